/* webp_io.c - WebP through libwebp: lossy and lossless, with alpha; the ICC profile travels in
 * the ICCP chunk (read with the demux API, written with the mux API).
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

static int read_icc(nsr_image *img, const uint8_t *bytes, size_t size, nsr_error *err) {
    WebPData data = {bytes, size};
    WebPDemuxer *demux = WebPDemux(&data);
    if (!demux) return nsr_fail(err, "invalid WebP data: malformed RIFF container");
    int rc = 0;
    WebPChunkIterator chunk;
    if ((WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ICCP_FLAG) &&
        WebPDemuxGetChunk(demux, "ICCP", 1, &chunk)) {
        rc = imgio_set_icc(img, chunk.chunk.bytes, chunk.chunk.size, err);
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    WebPDemuxDelete(demux);
    return rc;
}

int imgio_webp_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                      nsr_error *err) {
    memset(img, 0, sizeof *img);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) return nsr_fail(err, "libwebp version mismatch");
    VP8StatusCode status = WebPGetFeatures(bytes, size, &config.input);
    if (status != VP8_STATUS_OK) return nsr_fail(err, "invalid WebP data: %s", status_text(status));
    if (config.input.has_animation) return nsr_fail(err, "animated WebP is not supported");
    int alpha = config.input.has_alpha != 0;
    if (imgio_create(img, (uint64_t)config.input.width, (uint64_t)config.input.height, 3, alpha,
                     max_pixels, "WebP", err))
        return -1;
    if (read_icc(img, bytes, size, err)) {
        nsr_image_free(img);
        return -1;
    }
    size_t stride = (size_t)img->width * (alpha ? 4 : 3), total = stride * img->height;
    uint8_t *pixels = malloc(total);
    if (!pixels) {
        nsr_image_free(img);
        return nsr_fail(err, "out of memory decoding a %dx%d WebP", img->width, img->height);
    }
    config.output.colorspace = alpha ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = pixels;
    config.output.u.RGBA.stride = (int)stride;
    config.output.u.RGBA.size = total;
    status = WebPDecode(bytes, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (status == VP8_STATUS_OK) {
        for (int y = 0; y < img->height; y++)
            imgio_store_row(img, pixels + y * stride, img->width, 1, (size_t)y * img->width, 1);
    }
    free(pixels);
    if (status != VP8_STATUS_OK) {
        nsr_image_free(img);
        return nsr_fail(err, "invalid WebP data: %s", status_text(status));
    }
    return 0;
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

/* Wraps bitstream into an extended file with an ICCP chunk. */
static int add_icc(const nsr_image *img, const imgio_buf *bitstream, imgio_buf *out, nsr_error *err) {
    WebPData image = {bitstream->data, bitstream->size}, icc = {img->icc, img->icc_size}, assembled;
    WebPDataInit(&assembled);
    WebPMux *mux = WebPMuxCreate(&image, 0);
    int ok = mux && WebPMuxSetChunk(mux, "ICCP", &icc, 0) == WEBP_MUX_OK &&
             WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK &&
             imgio_buf_append(out, assembled.bytes, assembled.size) == 0;
    WebPMuxDelete(mux);
    WebPDataClear(&assembled);
    return ok ? 0 : nsr_fail(err, "WebP encoder: cannot add the ICC profile");
}

int imgio_webp_encode(const nsr_image *img, int quality, imgio_buf *out, nsr_error *err) {
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
        return nsr_fail(err, "WebP cannot hold a %dx%d image (at most %dx%d)", img->width,
                        img->height, WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION);
    if (!img->icc_size) return encode_pixels(img, quality, out, err);
    imgio_buf bitstream = {0};
    int rc = encode_pixels(img, quality, &bitstream, err);
    if (rc == 0) rc = add_icc(img, &bitstream, out, err);
    free(bitstream.data);
    return rc;
}
