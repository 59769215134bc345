/* webp_io.c - WebP through libwebp: lossy and lossless, with alpha; the ICC profile and EXIF
 * (its orientation applied on read; the resolution lives there) travel in the ICCP and EXIF
 * chunks (read with the demux API, written with the mux API).
 *
 * WebP has no grey mode: grey images are written as RGB and read back with three planes. */
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "image/image_io.h"

static const char *status_text(VP8StatusCode status) {
    switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "file is truncated";
    default: return "decoding failed";
    }
}

/* The first chunk fourcc of the file, pointing into its bytes (which the demuxer does not copy);
 * 0 when there is none. */
static int find_chunk(WebPDemuxer *demux, const char *fourcc, WebPData *chunk) {
    WebPChunkIterator it;
    *chunk = (WebPData){NULL, 0};
    if (!WebPDemuxGetChunk(demux, fourcc, 1, &it)) return 0;
    *chunk = it.chunk;
    WebPDemuxReleaseChunkIterator(&it);
    return 1;
}

/* Decodes a file whose features config holds and demux has parsed. */
static int decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                  WebPDecoderConfig *config, WebPDemuxer *demux, nsr_error *err) {
    WebPData icc, exif;
    uint32_t flags = WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS);
    if (!(flags & ICCP_FLAG) || !find_chunk(demux, "ICCP", &icc)) icc = (WebPData){NULL, 0};
    if (!(flags & EXIF_FLAG) || !find_chunk(demux, "EXIF", &exif)) exif = (WebPData){NULL, 0};
    int orientation = imgio_exif_orientation(exif.bytes, exif.size);
    int alpha = config->input.has_alpha != 0;
    size_t width = (size_t)config->input.width, height = (size_t)config->input.height;
    if (imgio_create(img, width, height, orientation, 3, alpha, max_pixels, "WebP", err) ||
        imgio_set_icc(img, icc.bytes, icc.size, err) ||
        imgio_set_exif(img, exif.bytes, exif.size, err))
        return -1;
    /* WebP keeps its resolution in the EXIF alone. */
    imgio_exif_resolution(img->exif, img->exif_size, &img->dpi_x, &img->dpi_y);
    size_t stride = width * (alpha ? 4 : 3), total = stride * height;
    uint8_t *pixels = malloc(total);
    if (!pixels) return nsr_fail(err, "out of memory decoding a %zux%zu WebP", width, height);
    config->output.colorspace = alpha ? MODE_RGBA : MODE_RGB;
    config->output.is_external_memory = 1;
    config->output.u.RGBA.rgba = pixels;
    config->output.u.RGBA.stride = (int)stride;
    config->output.u.RGBA.size = total;
    VP8StatusCode status = WebPDecode(bytes, size, config);
    WebPFreeDecBuffer(&config->output);
    for (size_t y = 0; status == VP8_STATUS_OK && y < height; y++) {
        size_t base;
        ptrdiff_t step;
        imgio_orient_row(orientation, width, height, y, &base, &step);
        imgio_store_row(img, pixels + y * stride, (int)width, 1, base, step);
    }
    free(pixels);
    return status == VP8_STATUS_OK ? 0 : nsr_fail(err, "invalid WebP data: %s", status_text(status));
}

int imgio_webp_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                      nsr_error *err) {
    memset(img, 0, sizeof *img);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) return nsr_fail(err, "libwebp version mismatch");
    VP8StatusCode status = WebPGetFeatures(bytes, size, &config.input);
    if (status != VP8_STATUS_OK) return nsr_fail(err, "invalid WebP data: %s", status_text(status));
    if (config.input.has_animation) return nsr_fail(err, "animated WebP is not supported");
    WebPData data = {bytes, size};
    WebPDemuxer *demux = WebPDemux(&data);
    if (!demux) return nsr_fail(err, "invalid WebP data: malformed RIFF container");
    int rc = decode(img, bytes, size, max_pixels, &config, demux, err);
    WebPDemuxDelete(demux);
    if (rc) nsr_image_free(img);
    return rc;
}

static const char *encode_error_text(WebPEncodingError code) {
    switch (code) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "image dimensions not supported";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "image too large for lossy WebP at this quality";
    case VP8_ENC_ERROR_BAD_WRITE: return "out of memory";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "encoded file would exceed 4 GiB";
    default: return "encoding failed";
    }
}

static int write_to_buf(const uint8_t *data, size_t size, const WebPPicture *picture) {
    return imgio_buf_append(picture->custom_ptr, data, size) == 0;
}

/* Encodes the pixels alone into bitstream (a complete WebP file without metadata). */
static int encode_pixels(const nsr_image *img, int quality, imgio_buf *bitstream, nsr_error *err) {
    WebPConfig config;
    if (!WebPConfigInit(&config)) return nsr_fail(err, "libwebp version mismatch");
    config.lossless = quality == 0;
    if (!config.lossless) config.quality = (float)quality;
    /* Keep colour values under fully transparent pixels (libwebp would simplify them). */
    config.exact = 1;
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) return nsr_fail(err, "libwebp version mismatch");
    picture.width = img->width;
    picture.height = img->height;
    /* Lossless works on ARGB; importing into YUV would round before it starts. */
    picture.use_argb = config.lossless;
    picture.writer = write_to_buf;
    picture.custom_ptr = bitstream;

    int alpha = img->alpha != NULL;
    size_t stride = (size_t)img->width * (alpha ? 4 : 3);
    uint8_t *pixels = malloc(stride * img->height);
    if (!pixels) return nsr_fail(err, "out of memory encoding a WebP");
    for (int y = 0; y < img->height; y++) imgio_load_row(img, y, pixels + y * stride, 1, 3, alpha);
    int ok = alpha ? WebPPictureImportRGBA(&picture, pixels, (int)stride)
                   : WebPPictureImportRGB(&picture, pixels, (int)stride);
    free(pixels);
    ok = ok && WebPEncode(&config, &picture);
    WebPEncodingError code = picture.error_code;
    WebPPictureFree(&picture);
    return ok ? 0 : nsr_fail(err, "WebP encoder: %s", encode_error_text(code));
}

/* Wraps bitstream into an extended file with ICCP and EXIF chunks (exif: what is written). */
static int add_metadata(const nsr_image *img, const uint8_t *exif, const imgio_buf *bitstream,
                        imgio_buf *out, nsr_error *err) {
    WebPData image = {bitstream->data, bitstream->size}, icc = {img->icc, img->icc_size},
             exif_data = {exif, img->exif_size}, assembled;
    WebPDataInit(&assembled);
    WebPMux *mux = WebPMuxCreate(&image, 0);
    int ok = mux && (!icc.size || WebPMuxSetChunk(mux, "ICCP", &icc, 0) == WEBP_MUX_OK) &&
             (!exif_data.size || WebPMuxSetChunk(mux, "EXIF", &exif_data, 0) == WEBP_MUX_OK) &&
             WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK &&
             imgio_buf_append(out, assembled.bytes, assembled.size) == 0;
    WebPMuxDelete(mux);
    WebPDataClear(&assembled);
    return ok ? 0 : nsr_fail(err, "WebP encoder: cannot add the ICC profile or EXIF");
}

int imgio_webp_encode(const nsr_image *img, int quality, imgio_buf *out, nsr_error *err) {
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
        return nsr_fail(err, "WebP cannot hold a %dx%d image (at most %dx%d)", img->width,
                        img->height, WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION);
    if (!img->icc_size && !img->exif_size) return encode_pixels(img, quality, out, err);
    uint8_t *exif;
    if (imgio_exif_for_output(img, &exif, err)) return -1;
    imgio_buf bitstream = {0};
    int rc = encode_pixels(img, quality, &bitstream, err);
    if (rc == 0) rc = add_metadata(img, exif, &bitstream, out, err);
    free(bitstream.data);
    free(exif);
    return rc;
}
