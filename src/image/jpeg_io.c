/* jpeg_io.c - JPEG through libjpeg(-turbo): baseline and progressive, grey and colour, ICC
 * profiles in APP2 markers, EXIF in APP1 (its orientation applied on read), the resolution in
 * the JFIF header; 4:2:0 output with the standard tables.
 *
 * libjpeg's fatal errors come to on_error_exit, which records the message and longjmps back to
 * the setjmp in decode_job/encode_job; the caller of those owns the decompress/compress struct
 * and the jpeg_job, and frees both whichever way they return. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image/image_io.h"

/* A progressive file may split its data into any number of scans, each of which makes the
 * decoder go over the whole coefficient buffer; real encoders use about ten. Far more is an
 * attack on decoding time. */
enum { MAX_SCANS = 500 };

typedef struct jpeg_job {
    struct jpeg_error_mgr errors;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    const char *what; /* how libjpeg's messages are introduced */
    nsr_error *err;
    uint8_t *row;
    imgio_buf *out;   /* encoding: the file, filled through dest and chunk */
    uint8_t *exif;    /* encoding: the EXIF to write (imgio_exif_for_output) */
    size_t exif_size;
    struct jpeg_destination_mgr dest;
    uint8_t chunk[16384];
} jpeg_job;

static void fail_with(j_common_ptr cinfo, const char *reason) {
    jpeg_job *job = cinfo->client_data;
    nsr_fail(job->err, "%s: %s", job->what, reason);
    longjmp(job->jump, 1);
}

static void on_error_exit(j_common_ptr cinfo) {
    char msg[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, msg);
    fail_with(cinfo, msg);
}

/* Nothing is printed. libjpeg treats data that runs out as a warning and fills the rest of the
 * image with grey; here that is an error. Other warnings (recoverable corruption) pass. */
static void on_message(j_common_ptr cinfo, int level) {
    int code = cinfo->err->msg_code;
    if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) on_error_exit(cinfo);
}

static void on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS)
        fail_with(cinfo, "too many progressive scans");
}

static void init_job(jpeg_job *job, struct jpeg_common_struct *cinfo, const char *what,
                     nsr_error *err) {
    job->what = what;
    job->err = err;
    cinfo->err = jpeg_std_error(&job->errors);
    job->errors.error_exit = on_error_exit;
    job->errors.emit_message = on_message;
    job->progress.progress_monitor = on_progress;
    cinfo->client_data = job;
}

/* ---------------------------------------------------------------- metadata */

static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};

/* The first APP1 Exif segment's TIFF structure (after its "Exif\0\0"), or NULL. */
static const uint8_t *exif_segment(jpeg_saved_marker_ptr marker, size_t *size) {
    for (; marker; marker = marker->next)
        if (marker->marker == JPEG_APP0 + 1 && marker->data_length > sizeof exif_id &&
            !memcmp(marker->data, exif_id, sizeof exif_id)) {
            *size = marker->data_length - sizeof exif_id;
            return marker->data + sizeof exif_id;
        }
    *size = 0;
    return NULL;
}

/* The JFIF density when it has a unit (1 dots per inch, 2 per cm), else the EXIF resolution. */
static void read_resolution(const struct jpeg_decompress_struct *cinfo, nsr_image *img) {
    if (cinfo->saw_JFIF_marker && (cinfo->density_unit == 1 || cinfo->density_unit == 2) &&
        cinfo->X_density && cinfo->Y_density) {
        double per_inch = cinfo->density_unit == 2 ? 2.54 : 1;
        img->dpi_x = cinfo->X_density * per_inch;
        img->dpi_y = cinfo->Y_density * per_inch;
    } else {
        imgio_exif_resolution(img->exif, img->exif_size, &img->dpi_x, &img->dpi_y);
    }
}

/* ---------------------------------------------------------------- decoding */

static int decode_job(jpeg_job *job, struct jpeg_decompress_struct *cinfo, nsr_image *img,
                      const uint8_t *bytes, size_t size, uint64_t max_pixels) {
    if (setjmp(job->jump)) return -1;
    jpeg_create_decompress(cinfo);
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, bytes, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_save_markers(cinfo, JPEG_APP0 + 2, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    int channels;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB;
        channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        return nsr_fail(job->err, "CMYK JPEG is not supported (convert it to RGB first)");
    default:
        return nsr_fail(job->err, "JPEG colour space with %d components is not supported",
                        cinfo->num_components);
    }
    size_t exif_size, width = cinfo->image_width, height = cinfo->image_height;
    const uint8_t *exif = exif_segment(cinfo->marker_list, &exif_size);
    int orientation = imgio_exif_orientation(exif, exif_size);
    if (imgio_create(img, width, height, orientation, channels, 0, max_pixels, "JPEG", job->err) ||
        imgio_set_exif(img, exif, exif_size, job->err))
        return -1;
    read_resolution(cinfo, img);
    JOCTET *icc;
    unsigned int icc_size;
    /* The profile is malloc'd by libjpeg for the caller to free: the image takes it over. */
    if (jpeg_read_icc_profile(cinfo, &icc, &icc_size)) {
        img->icc = icc;
        img->icc_size = icc_size;
    }
    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != width || cinfo->output_height != height ||
        cinfo->output_components != channels)
        return nsr_fail(job->err, "unexpected JPEG output layout");
    job->row = malloc(width * channels);
    if (!job->row) return nsr_fail(job->err, "out of memory decoding a JPEG");
    while (cinfo->output_scanline < height) {
        size_t y = cinfo->output_scanline, base;
        ptrdiff_t step;
        JSAMPROW rows[1] = {job->row};
        if (jpeg_read_scanlines(cinfo, rows, 1) != 1) return nsr_fail(job->err, "JPEG decoding stalled");
        imgio_orient_row(orientation, width, height, y, &base, &step);
        imgio_store_row(img, job->row, (int)width, 1, base, step);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

int imgio_jpeg_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                      nsr_error *err) {
    memset(img, 0, sizeof *img);
    jpeg_job job = {0};
    struct jpeg_decompress_struct cinfo = {0};
    init_job(&job, (struct jpeg_common_struct *)&cinfo, "invalid JPEG data", err);
    int rc = decode_job(&job, &cinfo, img, bytes, size, max_pixels);
    jpeg_destroy_decompress(&cinfo);
    free(job.row);
    if (rc) nsr_image_free(img);
    return rc;
}

/* ---------------------------------------------------------------- encoding */

/* The destination manager: libjpeg fills job->chunk, which is appended to job->out whenever it
 * is full and once at the end. */
static void dest_init(j_compress_ptr cinfo) {
    jpeg_job *job = cinfo->client_data;
    job->dest.next_output_byte = job->chunk;
    job->dest.free_in_buffer = sizeof job->chunk;
}

static boolean dest_flush(j_compress_ptr cinfo) {
    jpeg_job *job = cinfo->client_data;
    if (imgio_buf_append(job->out, job->chunk, sizeof job->chunk))
        fail_with((j_common_ptr)cinfo, "out of memory");
    dest_init(cinfo);
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo) {
    jpeg_job *job = cinfo->client_data;
    if (imgio_buf_append(job->out, job->chunk, sizeof job->chunk - job->dest.free_in_buffer))
        fail_with((j_common_ptr)cinfo, "out of memory");
}

static int encode_job(jpeg_job *job, struct jpeg_compress_struct *cinfo, const nsr_image *img,
                      int quality) {
    if (setjmp(job->jump)) return -1;
    jpeg_create_compress(cinfo);
    job->dest.init_destination = dest_init;
    job->dest.empty_output_buffer = dest_flush;
    job->dest.term_destination = dest_term;
    cinfo->dest = &job->dest;
    cinfo->image_width = (JDIMENSION)img->width;
    cinfo->image_height = (JDIMENSION)img->height;
    cinfo->input_components = img->channels;
    cinfo->in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    /* The defaults are YCbCr with 2x2 luma sampling (4:2:0) for colour and the standard
     * quantisation tables scaled by quality. */
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    if (img->dpi_x > 0 && img->dpi_y > 0) {
        cinfo->density_unit = 1; /* dots per inch */
        cinfo->X_density = (UINT16)fmin(fmax(round(img->dpi_x), 1), 65535);
        cinfo->Y_density = (UINT16)fmin(fmax(round(img->dpi_y), 1), 65535);
    }
    jpeg_start_compress(cinfo, TRUE);
    if (job->exif_size) {
        /* APP1 after the JFIF APP0: a segment holds at most 65533 bytes after its length. */
        if (job->exif_size > 65533 - sizeof exif_id)
            return nsr_fail(job->err, "EXIF too large for JPEG (%zu bytes, at most %zu)",
                            job->exif_size, 65533 - sizeof exif_id);
        jpeg_write_m_header(cinfo, JPEG_APP0 + 1, (unsigned)(sizeof exif_id + job->exif_size));
        for (size_t i = 0; i < sizeof exif_id + job->exif_size; i++)
            jpeg_write_m_byte(cinfo, i < sizeof exif_id ? exif_id[i] : job->exif[i - sizeof exif_id]);
    }
    if (img->icc_size) {
        /* APP2 markers hold at most 65519 profile bytes each, and there can be 255 of them. */
        if (img->icc_size > 255u * 65519u) return nsr_fail(job->err, "ICC profile too large for JPEG");
        jpeg_write_icc_profile(cinfo, img->icc, (unsigned int)img->icc_size);
    }
    job->row = malloc((size_t)img->width * img->channels);
    if (!job->row) return nsr_fail(job->err, "out of memory encoding a JPEG");
    for (int y = 0; y < img->height; y++) {
        JSAMPROW rows[1] = {job->row};
        imgio_load_row(img, y, job->row, 1, img->channels, 0);
        jpeg_write_scanlines(cinfo, rows, 1);
    }
    jpeg_finish_compress(cinfo);
    return 0;
}

int imgio_jpeg_encode(const nsr_image *img, int quality, imgio_buf *out, nsr_error *err) {
    jpeg_job job = {.out = out, .exif_size = img->exif_size};
    if (imgio_exif_for_output(img, &job.exif, err)) return -1;
    struct jpeg_compress_struct cinfo = {0};
    init_job(&job, (struct jpeg_common_struct *)&cinfo, "JPEG encoder", err);
    int rc = encode_job(&job, &cinfo, img, quality);
    jpeg_destroy_compress(&cinfo);
    free(job.row);
    free(job.exif);
    return rc;
}
