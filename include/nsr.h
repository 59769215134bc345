/* nsr.h - public API of libnsr: Neural Sparse Representation image restoration.
 *
 * Conventions used throughout:
 *  - Functions that can fail return 0 on success and non-zero on failure, and fill the
 *    caller's nsr_error with one human-readable line (no trailing newline).
 *  - Images are float planes, values on the 0..1 scale (8-bit value v is v/255, 16-bit v/65535),
 *    colour planes stored plane after plane (C, H, W) so that the data is directly a network
 *    input tensor. Alpha, when present, is a separate plane.
 *  - No global state (but for the temporary files of atomic writes in progress, which a signal
 *    handler can reach only so: nsr_remove_temp_files_in_flight); every allocation has a
 *    matching free.
 *
 * Ownership (every call follows these rules; the comments below say where one does more):
 *  - A call that makes something (nsr_image_create, nsr_image_read, nsr_resize_bicubic,
 *    nsr_model_load, nsr_model_restorer_create, ...) fills the caller's struct or pointer; the
 *    caller owns the result and releases it with the matching free: nsr_image_free,
 *    nsr_model_free, nsr_model_file_free, nsr_model_restorer_free, nsr_path_list_free, or free()
 *    for byte buffers (nsr_image_encode, nsr_read_file, nsr_model_file_encode). On failure the
 *    output is left empty (a zeroed image, a NULL pointer), so freeing it then is harmless, and
 *    every free accepts an empty image or NULL. An output image is overwritten, not freed
 *    first: free an image before making a new one in it.
 *  - Pointer arguments are read (or, when not const, written) during the call only and not
 *    kept, unless the call says so (nsr_model_restorer_create keeps the model).
 *  - nsr_error is the caller's, one per call in flight; its message is set only on failure.
 *
 * Threads:
 *  - Calls on different objects may run on any number of threads at once, and so may calls that
 *    only read an object (const): one loaded nsr_model can restore images on several threads
 *    at once (each call makes its own working memory), one nsr_image can be encoded twice at
 *    once. A call that changes an object (a non-const image, model or model file) needs it to
 *    itself for the call.
 *  - Calls parallelise inside with OpenMP on the calling thread's omp_get_max_threads()
 *    threads (set by omp_set_num_threads or OMP_NUM_THREADS); callbacks (progress, training
 *    events, the communicator's sum) run on the calling thread, one at a time.
 */
#ifndef NSR_H
#define NSR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NSR_VERSION_STRING "0.1.0"

/* What libnsr.so exports: the library is built with -fvisibility=hidden, so that only the API
 * below is visible to programs and everything else (engine, kernels) stays internal. */
#if defined(__GNUC__)
#define NSR_API __attribute__((visibility("default")))
#else
#define NSR_API
#endif

/* ---------------------------------------------------------------- errors */

typedef struct nsr_error {
    char message[512];
} nsr_error;

/* Formats message into err (if err is non-NULL) and returns -1, so callers can write
 * `return nsr_fail(err, "...", ...);`. Touches nothing but err. */
NSR_API int nsr_fail(nsr_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- images */

typedef struct nsr_image {
    int width, height;
    int channels;        /* colour planes: 1 (grey) or 3 (RGB) */
    int bit_depth;       /* precision of the source: 8 or 16; writers keep it where the format can */
    float *data;         /* channels * height * width, plane after plane, 0..1 */
    float *alpha;        /* height * width, 0..1, or NULL when the image has no alpha */
    uint8_t *icc;        /* ICC profile bytes carried from input to output, or NULL */
    size_t icc_size;
    uint8_t *exif;       /* EXIF carried from input to output, or NULL: the TIFF structure from
                          * its byte-order mark ("II" or "MM") on, without JPEG's "Exif\0\0";
                          * its orientation already applied to the pixels (the tag says 1) */
    size_t exif_size;
    double dpi_x, dpi_y; /* resolution in pixels per inch; 0 when the file does not say */
} nsr_image;

/* Allocates an image with zeroed planes (alpha only when with_alpha); free it with
 * nsr_image_free, which frees every plane and the metadata and leaves the image zeroed. */
NSR_API int nsr_image_create(nsr_image *img, int width, int height, int channels, int with_alpha,
                             nsr_error *err);
NSR_API void nsr_image_free(nsr_image *img);
/* dst: grey src replicated to the three RGB planes (bit depth kept, no alpha or metadata), as an
 * RGB network takes a grey image. */
NSR_API int nsr_image_grey_to_rgb(nsr_image *dst, const nsr_image *src, nsr_error *err);
/* A deep copy: pixels, alpha and metadata. */
NSR_API int nsr_image_copy(nsr_image *dst, const nsr_image *src, nsr_error *err);
/* Replaces dst's metadata with copies of src's ICC profile and EXIF, and src's resolution scaled
 * by dst's size over src's (the physical size stays: a x2 upscale of a 72 dpi image has 144). */
NSR_API int nsr_image_copy_metadata(nsr_image *dst, const nsr_image *src, nsr_error *err);
/* Pointer to colour plane c. */
static inline float *nsr_image_plane(const nsr_image *img, int c) {
    return img->data + (size_t)c * img->width * img->height;
}
/* Crops to the top-left (width - width % m) x (height - height % m), as MATLAB's modcrop. */
NSR_API int nsr_image_modcrop(nsr_image *img, int m, nsr_error *err);
/* Rounds every sample to the nearest 8-bit level, clamped to 0..255 (the quantisation that
 * precedes every metric, NSR.md section 5). */
NSR_API void nsr_image_quantize8(nsr_image *img);

/* ---------------------------------------------------------------- image files */

typedef enum nsr_format {
    NSR_FORMAT_UNKNOWN = 0,
    NSR_FORMAT_PNG,
    NSR_FORMAT_JPEG,
    NSR_FORMAT_WEBP
} nsr_format;

typedef struct nsr_read_options {
    uint64_t max_pixels;  /* refuse images with more pixels than this; 0 means the default */
} nsr_read_options;

#define NSR_DEFAULT_MAX_PIXELS 400000000ull /* 400 megapixels */

typedef struct nsr_write_options {
    nsr_format format;    /* NSR_FORMAT_UNKNOWN: from the file name's extension */
    int quality;          /* JPEG 1..100, WebP 1..100; 0 = default (JPEG 95, WebP lossless) */
    int bit_depth;        /* PNG: 8 or 16; 0 = the image's own bit_depth */
} nsr_write_options;

/* Detects the format from the first bytes of a file's content. */
NSR_API nsr_format nsr_detect_format(const uint8_t *bytes, size_t size);
NSR_API const char *nsr_format_name(nsr_format format);
/* Format from a file name's extension (.png, .jpg/.jpeg, .webp), or NSR_FORMAT_UNKNOWN. */
NSR_API nsr_format nsr_format_from_path(const char *path);

/* Reads PNG, JPEG or WebP (detected from content). opts may be NULL. Grey stays one plane,
 * except that WebP, which has no grey, always gives three; alpha, the ICC profile and EXIF
 * (PNG eXIf, JPEG APP1, WebP EXIF) come along; 16-bit PNG gives bit_depth 16. The EXIF
 * orientation is applied to the pixels (all eight), and the EXIF kept says 1. The resolution
 * comes from PNG's pHYs or JPEG's JFIF header when they give one in absolute units, else from
 * the EXIF. img is created (freed on failure). Errors name the file. */
NSR_API int nsr_image_read(nsr_image *img, const char *path, const nsr_read_options *opts,
                           nsr_error *err);
NSR_API int nsr_image_read_memory(nsr_image *img, const uint8_t *bytes, size_t size,
                                  const nsr_read_options *opts, nsr_error *err);
/* Writes atomically: to a temporary file in the same folder, then renamed over path. Two
 * threads writing the same path at once leave one of the two files whole. */
NSR_API int nsr_image_write(const nsr_image *img, const char *path, const nsr_write_options *opts,
                            nsr_error *err);
/* Encodes into a malloc'd buffer (*out, *out_size); the caller frees it. Samples are rounded to
 * the nearest level and clamped; JPEG drops alpha (colour is kept, not composited) and uses
 * 4:2:0 chroma for colour; WebP holds at most 16383x16383. The ICC profile and EXIF are
 * written by every format; the EXIF is made true for the pixels (orientation 1, PixelX/
 * YDimension their size, X/YResolution the image's resolution when it has one). The resolution
 * goes in PNG's pHYs, JPEG's JFIF header, and for WebP only into an EXIF the image has. */
NSR_API int nsr_image_encode(const nsr_image *img, nsr_format format, const nsr_write_options *opts,
                             uint8_t **out, size_t *out_size, nsr_error *err);

/* Writes size bytes to path atomically: to a temporary file PATH.tmp-PID-XXXXXX in the same
 * folder, fsync, rename. First removes the stale temporary files of path (as
 * nsr_remove_stale_temp_files). */
NSR_API int nsr_write_file_atomic(const char *path, const void *bytes, size_t size, nsr_error *err);
/* Removes from folder dir the temporary files of atomic writes (of dir/name; of any file when
 * name is NULL) whose writing process no longer exists, as a killed process leaves them.
 * Returns how many were removed, or -1 when dir cannot be listed. (A file whose PID belongs to
 * a process of another PID namespace, sharing the folder, would be taken for stale.) */
NSR_API int nsr_remove_stale_temp_files(const char *dir, const char *name, nsr_error *err);
/* Removes the temporary files of the atomic writes in progress in this process; for a handler
 * of a signal that ends the process (async-signal-safe: unlink only; the one call meant to run
 * while other threads are inside the library). */
NSR_API void nsr_remove_temp_files_in_flight(void);
/* Reads a whole file into a malloc'd buffer. */
NSR_API int nsr_read_file(const char *path, uint8_t **bytes, size_t *size, nsr_error *err);

/* Draws the built-in test picture (gradients, edges, stripes, a zone plate), 8-bit RGB. */
NSR_API int nsr_render_test_image(nsr_image *img, int width, int height, nsr_error *err);

/* ---------------------------------------------------------------- data sets (src/image/data.c) */

typedef struct nsr_path_list {
    char **paths;
    size_t count;
} nsr_path_list;

/* Lists the PNG, JPEG and WebP files of a folder (by extension, not recursive), sorted by name.
 * An empty folder is an error. The list and its paths are malloc'd: nsr_path_list_free. */
NSR_API int nsr_list_images(nsr_path_list *list, const char *dir, nsr_error *err);
NSR_API void nsr_path_list_free(nsr_path_list *list);

/* ---------------------------------------------------------------- resampling (src/image/resize.c) */

/* The 8-bit level of a 0..1 sample: round(v * 255), half away from zero, clamped to 0..255 (NaN
 * gives 0), the same rounding as nsr_image_quantize8. Computed in double so that no float
 * rounding of v * 255 + 0.5 can move a sample to the next level. */
static inline int nsr_level8(float v) {
    double s = (double)v * 255.0;
    if (!(s > 0)) return 0;
    return s >= 255 ? 255 : (int)(s + 0.5);
}

/* Bicubic resize with MATLAB imresize(..., 'bicubic') semantics (NSR.md section 5): cubic kernel
 * a = -0.5, widened by 1/scale and scaled when shrinking (antialiasing), symmetric (mirrored)
 * border indices, weights normalised per output sample, separable passes in double; the
 * dimension with the smaller scale is resized first (height first on a tie), as MATLAB does.
 * Each dimension is given by a scale or a size or both:
 *  - out_width > 0, scale_x = 0: the kernel scale is out_width / width;
 *  - out_width = 0, scale_x > 0: the output width is ceil(scale_x * width), as MATLAB;
 *  - both: both are used as given.
 * (Likewise out_height / scale_y.) round8: the image is taken as 8-bit levels (nsr_level8) and
 * each pass's result is rounded to a level (half away from zero, clamped), as MATLAB on uint8
 * input; this reproduces MATLAB's LR images exactly. round8 = 0: floats in, floats out, no
 * rounding or clamping. Alpha is resized like a colour plane. dst is created here; on failure
 * it is left empty. Parallel over planes and rows; results do not depend on the thread count. */
NSR_API int nsr_resize_bicubic(nsr_image *dst, const nsr_image *src, int out_width, int out_height,
                               double scale_x, double scale_y, int round8, nsr_error *err);

/* ---------------------------------------------------------------- metrics (src/image/metrics.c) */

/* How Y (luma) is obtained from 8-bit RGB for PSNR, SSIM and PSNR-B (name it in every table):
 *  - NSR_Y_PT_IR: Y = 16 + 0.257 R + 0.504 G + 0.098 B on 8-bit levels, not rounded (the NSR
 *    reference code, which applies the weights to the 8-bit difference; the +16 cancels there).
 *  - NSR_Y_MATLAB: MATLAB rgb2ycbcr on uint8: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with
 *    R, G, B in 0..1, rounded to uint8 (half away from zero).
 * Grey images: Y is the grey level itself under both. */
typedef enum nsr_y_convention { NSR_Y_PT_IR = 0, NSR_Y_MATLAB = 1 } nsr_y_convention;

/* "pt_ir" / "matlab"; parse returns 0, or -1 for an unknown name. */
NSR_API const char *nsr_y_convention_name(nsr_y_convention y);
NSR_API int nsr_y_convention_parse(const char *name, nsr_y_convention *y);

/* Y as MATLAB's rgb2ycbcr gives it for uint8 RGB (NSR_Y_MATLAB): a grey image of the rounded
 * levels (0..1), from the 8-bit levels of src (RGB; a grey src is copied). Grey networks train
 * on it and the grey tables (nsr eval --grey) are measured on it. */
NSR_API int nsr_image_luma(nsr_image *dst, const nsr_image *src, nsr_error *err);

typedef struct nsr_metrics {
    double psnr_y;   /* dB; INFINITY when the shaved Y planes are equal */
    double ssim_y;   /* Wang et al.: 11x11 Gaussian (sigma 1.5), 'valid', mean of the map; NAN
                        when the shaved image is smaller than 11x11 */
    double psnr_rgb; /* dB over all colour planes (the grey plane for grey); INFINITY if equal */
    double psnr_b;   /* dB, Yim & Bovik's PSNR-B on Y: the MSE plus the blocking effect factor
                        of test on its 8x8 grid; INFINITY if equal and unblocked */
} nsr_metrics;

/* Compares test with the reference ref (same width, height and channel count; alpha is
 * ignored). Both are first quantised to 8 bit (nsr_level8, NSR.md section 5). The Y metrics use
 * the planes with `shave` pixels removed from each side, PSNR on RGB with `shave_rgb` removed
 * (NSR.md section 5: s and s + 6 for super-resolution at scale s; 0 for denoising and JPEG).
 * PSNR-B keeps the block grid of the unshaved image. Fails (with a reason) on mismatched sizes
 * or a shave that leaves no pixels. */
NSR_API int nsr_metrics_compute(const nsr_image *ref, const nsr_image *test, int shave,
                                int shave_rgb, nsr_y_convention y, nsr_metrics *out,
                                nsr_error *err);

/* ---------------------------------------------------------------- degradations (src/image/degrade.c) */

/* Counter-based random numbers (src/base/rng.c): each value is a pure function of (seed, stream,
 * counter), so any element can be drawn on its own, in any order, on any thread, with the same
 * result everywhere. */
NSR_API uint64_t nsr_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);
/* Uniform in the open interval (0, 1), 53 bits. */
NSR_API double nsr_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter);
/* Standard normal (Box-Muller on counters 2 * counter and 2 * counter + 1). */
NSR_API double nsr_rng_normal(uint64_t seed, uint64_t stream, uint64_t counter);

/* Adds Gaussian noise of standard deviation sigma255 / 255 (sigma on the 0-255 scale) to every
 * colour sample, in float, not clipped (NSR.md section 5); alpha is untouched. The noise of
 * sample i of plane c is sigma255 / 255 * nsr_rng_normal(seed, c, i): it depends only on
 * (seed, c, i), not on the thread count. */
NSR_API void nsr_add_gaussian_noise(nsr_image *img, double sigma255, uint64_t seed);

/* JPEG round trip: encodes src with libjpeg at quality 1..100 (standard tables; grey stays grey,
 * colour is 4:2:0) and decodes it into dst (created here). Alpha is copied unchanged. */
NSR_API int nsr_jpeg_degrade(nsr_image *dst, const nsr_image *src, int quality, nsr_error *err);

/* ---------------------------------------------------------------- evaluation (src/run/eval.c) */

/* What is restored: super-resolution by scale, Gaussian denoising at sigma (0-255 scale), or
 * JPEG artifacts at quality. */
typedef enum nsr_task_kind { NSR_TASK_SR = 0, NSR_TASK_DENOISE = 1, NSR_TASK_JPEG = 2 } nsr_task_kind;

typedef struct nsr_task {
    nsr_task_kind kind;
    int scale;          /* NSR_TASK_SR: 2, 3, 4 (1 for the others) */
    double noise_sigma; /* NSR_TASK_DENOISE */
    int jpeg_quality;   /* NSR_TASK_JPEG: 1..100 */
    /* Blind training (nsr_train): above the levels above, each patch's level is drawn
     * uniformly from [noise_sigma, noise_sigma_max] (a real) or [jpeg_quality,
     * jpeg_quality_max] (an integer), as DnCNN-B and DnCNN-3 train; 0, or equal: one level.
     * Evaluation and degradation use the levels above. */
    double noise_sigma_max;
    int jpeg_quality_max;
} nsr_task;

/* "x2 super-resolution", "denoising sigma 25", ... into buf; returns buf. */
NSR_API const char *nsr_task_describe(const nsr_task *task, char *buf, size_t size);

/* Makes the degraded input of the protocol (NSR.md section 5) from the ground truth: for
 * super-resolution gt is cropped in place to a multiple of the scale and input is its MATLAB
 * bicubic downscale; noise is added in float, unclipped, from seed; JPEG is a libjpeg round
 * trip. input is created here. */
NSR_API int nsr_task_degrade(nsr_image *input, nsr_image *gt, const nsr_task *task, uint64_t seed,
                             nsr_error *err);

/* Anything that restores an image: bicubic, a network, a future backend. restore creates out,
 * which must have the ground truth's size and channels (the caller frees it). restore may run
 * on several threads at once when ctx is only read (so for the bicubic and model restorers). */
typedef struct nsr_restorer {
    const char *name;
    void *ctx;
    int (*restore)(void *ctx, const nsr_task *task, const nsr_image *in, nsr_image *out,
                   nsr_error *err);
} nsr_restorer;

/* The baseline: MATLAB-compatible bicubic upscaling (uint8 semantics); identity for
 * denoising and JPEG. A constant: never freed. */
NSR_API extern const nsr_restorer nsr_bicubic_restorer;

/* The per-image seed for noise: a hash of the file's base name, so that an image gets the same
 * noise whichever folder or subset it is evaluated in. */
NSR_API uint64_t nsr_seed_from_name(const char *name);

/* Evaluates one ground-truth image: degrade, restore, quantise to 8 bit, measure (shave s for
 * Y and s + 6 for RGB in super-resolution, 0 otherwise). The degradation is nsr_task_degrade's,
 * except for super-resolution under NSR_Y_PT_IR, whose LR is made as the reference code made
 * it: MATLAB's bicubic in floating point, rounded to 8 bit once at the end (NSR.md section 7). */
NSR_API int nsr_eval_image(const nsr_image *ground_truth, const nsr_task *task,
                           const nsr_restorer *restorer, nsr_y_convention y, uint64_t seed,
                           nsr_metrics *metrics, nsr_error *err);


/* ---------------------------------------------------------------- model files (src/nn/model_file.c) */

/* A .nsr model file is a self-describing container (format: docs/model-format.md): typed
 * key-value metadata (the architecture, the task, training provenance) beside named f32 tensors
 * (the parameters), so that a network can be rebuilt from the file alone. The container knows
 * nothing about networks; the model code chooses the keys and tensor names.
 * Keys and tensor names: 1..255 visible ASCII characters (no spaces, no control bytes), unique
 * (metadata and tensors are separate name spaces). Order of insertion is kept. */
typedef struct nsr_model_file nsr_model_file;

typedef enum nsr_meta_type {
    NSR_META_NONE = 0,  /* no such key */
    NSR_META_INT = 1,   /* int64_t */
    NSR_META_FLOAT = 2, /* double */
    NSR_META_STRING = 3 /* NUL-free byte string (UTF-8 by convention) */
} nsr_meta_type;

#define NSR_MODEL_MAX_DIMS 4
#define NSR_MODEL_MAX_NAME 255

/* A tensor as the file holds it: f32, row-major, dims[0] slowest. Owned by the nsr_model_file;
 * pointers to it stay valid until the file is freed or another tensor is added. */
typedef struct nsr_model_tensor {
    const char *name;
    int ndim;                        /* 1..NSR_MODEL_MAX_DIMS */
    int dims[NSR_MODEL_MAX_DIMS];    /* each >= 1; unused entries are 1 */
    size_t count;                    /* product of dims */
    const float *data;
} nsr_model_tensor;

/* An empty container; NULL when out of memory. Free with nsr_model_file_free. The setters and
 * adders below change f: one thread at a time; the getters only read it. */
NSR_API nsr_model_file *nsr_model_file_new(void);
NSR_API void nsr_model_file_free(nsr_model_file *f);

/* Set metadata; setting an existing key replaces its value and type. Strings are copied. */
NSR_API int nsr_model_file_set_int(nsr_model_file *f, const char *key, int64_t value,
                                   nsr_error *err);
NSR_API int nsr_model_file_set_float(nsr_model_file *f, const char *key, double value,
                                     nsr_error *err);
NSR_API int nsr_model_file_set_string(nsr_model_file *f, const char *key, const char *value,
                                      nsr_error *err);
/* Adds a tensor of shape dims[0..ndim-1] (each >= 1), COPYING count floats from data.
 * A name already present is an error. */
NSR_API int nsr_model_file_add_tensor(nsr_model_file *f, const char *name, int ndim,
                                      const int *dims, const float *data, nsr_error *err);

/* Serialises into a malloc'd buffer (*out, *out_size); the caller frees it. */
NSR_API int nsr_model_file_encode(const nsr_model_file *f, uint8_t **out, size_t *out_size,
                                  nsr_error *err);
/* Encodes, then writes atomically (nsr_write_file_atomic). */
NSR_API int nsr_model_file_save(const nsr_model_file *f, const char *path, nsr_error *err);
/* Reads and validates every field (docs/model-format.md lists the checks); on failure *f is NULL
 * and err says what is wrong, prefixed with the path (or label). The bytes are not kept: the
 * caller's buffer may be freed after the call; *f is the caller's (nsr_model_file_free). */
NSR_API int nsr_model_file_load(nsr_model_file **f, const char *path, nsr_error *err);
NSR_API int nsr_model_file_load_memory(nsr_model_file **f, const uint8_t *bytes, size_t size,
                                       const char *label, nsr_error *err);

/* Metadata lookup. Getters fail with a line naming the key when it is missing or has another
 * type; a string stays valid until the file is freed or the key is set again. */
NSR_API nsr_meta_type nsr_model_file_meta_type(const nsr_model_file *f, const char *key);
NSR_API int nsr_model_file_get_int(const nsr_model_file *f, const char *key, int64_t *value,
                                   nsr_error *err);
NSR_API int nsr_model_file_get_float(const nsr_model_file *f, const char *key, double *value,
                                     nsr_error *err);
NSR_API int nsr_model_file_get_string(const nsr_model_file *f, const char *key, const char **value,
                                      nsr_error *err);
/* Listing, in insertion (= file) order: key i, or NULL when i >= the count. */
NSR_API size_t nsr_model_file_meta_count(const nsr_model_file *f);
NSR_API const char *nsr_model_file_meta_key(const nsr_model_file *f, size_t i);

/* Tensor lookup: by index (NULL when i >= the count) or by name (NULL when absent). */
NSR_API size_t nsr_model_file_tensor_count(const nsr_model_file *f);
NSR_API const nsr_model_tensor *nsr_model_file_tensor_at(const nsr_model_file *f, size_t i);
NSR_API const nsr_model_tensor *nsr_model_file_find_tensor(const nsr_model_file *f,
                                                           const char *name);
/* The data of tensor name, which must have exactly the shape dims[0..ndim-1]; otherwise fails
 * with a line naming the tensor and both shapes (or saying it is missing). */
NSR_API int nsr_model_file_get_tensor(const nsr_model_file *f, const char *name, int ndim,
                                      const int *dims, const float **data, nsr_error *err);

/* ---------------------------------------------------------------- networks (src/nn/model.c) */

/* The architecture of an NSR network (NSR.md section 3): all that is needed to rebuild one. */
typedef struct nsr_arch {
    int blocks;           /* B: residual blocks, 1..1024 */
    int features;         /* F: channels between blocks */
    int width_mult;       /* wm: a block's hidden layer has F * wm channels */
    int groups;           /* k: sparsity groups; 1 is the plain network (no side layers) */
    int cardinals;        /* d: cardinals, dividing F; ignored (and stored as 1) when k = 1 */
    int scale;            /* s: upscaling factor 1..8; 1 restores at the same size */
    int shared_selection; /* 1: one selection per block, from the block input, used by both of
                           * its convs; 0: every NSR conv selects from its own input */
    int regime;           /* NSR_REGIME_FIXED_FLOPS or NSR_REGIME_FIXED_SIZE (NSR.md sections
                           * 1 and 7); ignored (and stored as fixed FLOPs) when k = 1 */
    int channels;         /* the image planes it takes and gives: 3 (RGB; also when 0, as in
                           * architectures written before this field) or 1 (grey) */
} nsr_arch;

/* How an NSR network spends its k groups (the rebuttal's two rows). */
enum {
    /* every block conv stores k groups of kernels and mixes them per sample (the reference's
     * wdsr_nsr: k x the parameters of the plain network, about its FLOPs) */
    NSR_REGIME_FIXED_FLOPS = 0,
    /* the plain block's F*wm hidden channels are split into k groups, one selection per block
     * (from the block input) weighting them: the plain network's parameters plus the side
     * layers; with hard selection a block computes only the chosen group's channels, 1/k of
     * the plain block's convolution */
    NSR_REGIME_FIXED_SIZE = 1
};

typedef struct nsr_model nsr_model;

typedef enum nsr_selection {
    NSR_SELECT_SOFT = 0, /* softmax mixture of the groups, as trained (the reference) */
    NSR_SELECT_HARD = 1  /* only the argmax group's kernel, per cardinal */
} nsr_selection;

/* One field of nsr_arch as the model file, the command line and the help know it. */
typedef struct nsr_arch_field {
    const char *name;  /* the nsr_arch member, and its name in JSON: "width_mult" */
    const char *key;   /* its model-file metadata key: "nsr.width_mult" */
    const char *flag;  /* its command-line option without "--": "wm" */
    const char *arg;   /* the option's value in help texts ("W"); NULL for a flag (--shared) */
    const char *what;  /* its name in messages: "width multiplier" */
    int min, max;      /* the valid range */
    int def;           /* the default of a new network (the reference's wdsr_nsr) */
    int is_flag;       /* 0 or 1, set by a flag */
    int with_groups;   /* means something only with groups > 1 (cardinals) */
    const char *help;  /* one line for the help of the commands */
    /* the values' names (value i is names[i], NULL-terminated), for a field that takes names
     * on the command line and in JSON (the regime); NULL for a number */
    const char *const *names;
    /* came after the first model files: a file without the key has the default, and the key
     * is written only when the value differs, so those files stay as they were */
    int optional;
} nsr_arch_field;

/* The fields in file order; nsr_arch_field_at returns NULL past the end. */
NSR_API size_t nsr_arch_field_count(void);
NSR_API const nsr_arch_field *nsr_arch_field_at(size_t i);
/* Field i of an architecture. */
NSR_API int nsr_arch_get(const nsr_arch *arch, size_t i);
NSR_API void nsr_arch_set(nsr_arch *arch, size_t i, int value);
/* Every field at its default: B16 F32 wm4 k4 d16 x2, selection per conv. */
NSR_API void nsr_arch_defaults(nsr_arch *arch);
/* Checks every field's range (cardinals only with groups > 1), that d divides F, and the size. */
NSR_API int nsr_arch_check(const nsr_arch *arch, nsr_error *err);
/* Number of parameters (V, g and bias of every conv, and the side layers) of a valid arch. */
NSR_API size_t nsr_arch_param_count(const nsr_arch *arch);
/* A model with the reference initialisation drawn from seed; free with nsr_model_free. A model
 * is never changed by inference (nsr_model_infer*, nsr_model_restore, restorers take it const),
 * so one model serves any number of threads at once; nsr_train changes only its own copy. */
NSR_API int nsr_model_create(nsr_model **model, const nsr_arch *arch, uint64_t seed,
                             nsr_error *err);
NSR_API void nsr_model_free(nsr_model *model);
NSR_API const nsr_arch *nsr_model_arch(const nsr_model *model);
NSR_API size_t nsr_model_param_count(const nsr_model *model);
/* 1 when the model's training ended with hard selection (nsr train --hard-from: its
 * "select.trained_hard"), so that NSR_SELECT_HARD keeps its quality; 0 otherwise. */
NSR_API int nsr_model_trained_hard(const nsr_model *model);
/* Runs the network on a whole RGB image (one sample, any size): out is created with
 * (width * s) x (height * s) and in's bit depth, no alpha. The output is not clamped. */
NSR_API int nsr_model_infer(const nsr_model *model, const nsr_image *in, nsr_image *out,
                            nsr_selection selection, nsr_error *err);

/* ---------------------------------------------------------------- models: files, inference, tiling (src/nn/model_io.c, src/run/) */

/* A network in a model file (docs/model-format.md, "The wdsr_nsr network"): metadata
 * "nsr.architecture" = "wdsr_nsr" and the integers "nsr.blocks", "nsr.features",
 * "nsr.width_mult", "nsr.groups", "nsr.cardinals", "nsr.scale", "nsr.shared_selection"; one
 * tensor per parameter tensor, by its engine name and shape. to_file ADDS these to f (which may
 * already hold other metadata: task, provenance); a name already there is an error.
 * from_file checks the architecture (nsr_arch_check), that every expected tensor is there with
 * exactly its shape and only finite values, and that every other tensor's name starts with a
 * reserved prefix ("train.", a checkpoint's extra data); other metadata is ignored. Its
 * messages do not name the file; load's are prefixed with the path. */
NSR_API int nsr_model_to_file(const nsr_model *m, nsr_model_file *f, nsr_error *err);
NSR_API int nsr_model_from_file(nsr_model **m, const nsr_model_file *f, nsr_error *err);
/* load: *m is the caller's (nsr_model_free); NULL on failure. */
NSR_API int nsr_model_save(const nsr_model *m, const char *path, nsr_error *err);
NSR_API int nsr_model_load(nsr_model **m, const char *path, nsr_error *err);

/* How a network meets an image (NSR.md section 5; src/run/tiling.c). */
typedef enum nsr_tiling {
    NSR_TILE_AUTO = 0,      /* the default: the image in large overlapping tiles (up to 512x512
                             * LR pixels, or nsr_infer_options.tile_size), each a plain crop run
                             * through the whole network, zero padding only at the image's edge
                             * as in training, cross-faded where they overlap (by at least
                             * twice the network's receptive radius); each tile pools its own
                             * selection. An image that fits one tile runs whole, bit for bit
                             * NSR_TILE_WHOLE; larger ones within 0.001 dB of it (RESULTS.md).
                             * Memory: one tile's activations (at most 256 MiB) */
    NSR_TILE_REFERENCE = 1, /* as the reference (its published numbers): an LR input of at least
                             * 192 x 192 runs the body on 48x48 tiles (reflect-padded by 4,
                             * stride 32, the inner 40x40 kept, overlaps averaged, border strips
                             * weighing 0.3) and the skip branch on the whole image; smaller
                             * inputs run whole. Every tile pools its own selection statistics,
                             * so the result differs from NSR_TILE_WHOLE everywhere, a little,
                             * and the reflect padding leaves a frame about 4 pixels wide.
                             * Memory: a few 48x48 tiles' activations, whatever the image size */
    NSR_TILE_WHOLE = 2      /* the whole image as one sample (nsr_model_infer); memory grows with
                             * the image times the network's width */
} nsr_tiling;
/* "auto" / "reference" / "whole"; parse returns 0, or -1 for an unknown name. */
NSR_API const char *nsr_tiling_name(nsr_tiling tiling);
NSR_API int nsr_tiling_parse(const char *name, nsr_tiling *tiling);

typedef struct nsr_infer_options {
    nsr_selection selection;
    nsr_tiling tiling;
    /* Progress, or NULL: progress(progress_ctx, fraction) reports the fraction of the work done,
     * in (0, 1], never falling; the last call of a successful inference is with exactly 1 (a
     * fraction may repeat). nsr_model_infer_tiled and nsr_model_restore (so also a model
     * restorer) call it on the thread that called them, between pieces of work (after every
     * few tiles, after a whole-image pass, after each TTA pass), never from the library's
     * worker threads and never twice at once for one inference: a callback used by one
     * inference at a time needs no locking. The workers wait while it runs, so it should be
     * quick (print a line, store a number); it must not start another inference of the same
     * restorer. */
    void (*progress)(void *ctx, double fraction);
    void *progress_ctx;
    /* NSR_TILE_AUTO: a tile's side in LR pixels (0: chosen from the network's size; at least
     * twice the overlap its receptive field needs, else an error); other modes: 0. */
    int tile_size;
    /* Test-time augmentation (1; 0: off): the network restores the 8 flips and transposes of
     * the input (each with the tiling above), each output is mapped back by the inverse
     * transform, and the 8 are averaged (summed in a fixed order, then divided by 8). Any
     * scale, grey or RGB; 8 times the time, the memory of one pass plus an input and an output
     * copy. The restorer is then exactly equivariant to flips and transposes where the tiling
     * is too (whole images; up to float rounding). */
    int tta;
} nsr_infer_options;

/* The tile side NSR_TILE_AUTO uses for m under opts (NULL: the defaults): opts->tile_size when
 * given, else the largest that fits the tile memory budget. An image no larger than it in both
 * dimensions runs whole. */
NSR_API int nsr_infer_tile_size(const nsr_model *m, const nsr_infer_options *opts);

/* nsr_model_infer with a choice of tiling, selection and TTA (opts NULL: soft selection, auto
 * tiling, no TTA). in has the network's channels (RGB, or grey for a grey network); out is
 * created, (width * s) x (height * s), in's bit depth, unclamped. */
NSR_API int nsr_model_infer_tiled(const nsr_model *m, const nsr_image *in, nsr_image *out,
                                  const nsr_infer_options *opts, nsr_error *err);
/* Restores any image with the network: grey input is replicated to RGB and the output turned
 * back to grey as the mean of its three planes; alpha is upscaled with MATLAB bicubic in float
 * (nsr_resize_bicubic, round8 = 0; copied when s = 1); the ICC profile and bit depth are
 * carried. out is created. */
NSR_API int nsr_model_restore(const nsr_model *m, const nsr_image *in, nsr_image *out,
                              const nsr_infer_options *opts, nsr_error *err);
/* 0 when m fits task (x s super-resolution for a model of scale s > 1; denoising or JPEG for
 * scale 1), else fails with the line the restorer would give; label names the model (NULL:
 * "the model"). */
NSR_API int nsr_model_check_task(const nsr_model *m, const nsr_task *task, const char *label,
                                 nsr_error *err);
/* A restorer (for nsr_eval_image) running m by nsr_model_restore. It fits the tasks of the
 * model's scale (nsr_model_check_task); any other task fails with a line naming the model by
 * label ("nsr_x2.nsr is a x2 super-resolution network; it cannot do x3 super-resolution"). Its
 * name is "label (tiling, selection[, TTA x8])". It keeps m, which must outlive it; opts and
 * label are copied (NULL: the defaults). Free it with nsr_model_restorer_free (before freeing
 * m). Its restore only reads the restorer and m: several threads may use one at once, each
 * calling the progress callback of opts (which must then be safe for that). */
NSR_API int nsr_model_restorer_create(nsr_restorer **r, const nsr_model *m, const char *label,
                                      const nsr_infer_options *opts, nsr_error *err);
NSR_API void nsr_model_restorer_free(nsr_restorer *r);

/* ---------------------------------------------------------------- sparsity selections (src/run/selection.c) */

/* Windows of an image, each run through the network as one sample, so that each makes its own
 * selections, as an inference tile or a training patch does: size x size windows of the image
 * reflect-padded by pad pixels (0: plain crops, the convolutions zero-pad at their edges),
 * every stride pixels, the grid centred as the reference tiling's (NSR.md section 5): along an
 * axis of len pixels, n = (len + 2 pad - size) / stride + 1 windows, window i starting at
 * (len + 2 pad - size - (n - 1) stride) / 2 + i stride in the padded image. {48, 32, 4} is the
 * grid of the reference tiling's tiles (NSR_TILE_REFERENCE on inputs of at least 192x192). */
typedef struct nsr_window_grid {
    int size, stride, pad;
} nsr_window_grid;

/* The selections of every window: gamma[((s * rows + r) * cols + c) * k * d + i * d + j] is the
 * weight of group i for cardinal j in selection s of window (r, c), as the forward mixed by it
 * (the softmax at the model's temperature). Selection s = b * per_block + t is block b's conv
 * t + 1 (per_block 2: every block conv selects from its own input; 1: one selection per block,
 * from the block input, which both convs use (shared selection) or which weights the hidden
 * groups (fixed-size regime)). Window (r, c) covers image rows first_y + r * stride ..
 * + size - 1 (negative or past the image: padding) and columns likewise from first_x. */
typedef struct nsr_selection_map {
    int rows, cols, first_y, first_x, size, stride;
    int groups, cards, blocks, per_block; /* k, d, B */
    float *gamma;
} nsr_selection_map;

/* The selections of one of m's blocks, per_block above: 2 or 1, 0 for a plain network. */
NSR_API int nsr_model_selections_per_block(const nsr_model *m);

/* Runs the network (soft selection, as inference) on the windows of in (the network's channel
 * count) in batches, and keeps the selection weights the forward used. Fails for a plain
 * network (1 group: nothing is selected), a window larger than the padded image, or a pad not
 * smaller than the image. map is created; free it with nsr_selection_map_free. */
NSR_API int nsr_model_select_windows(const nsr_model *m, const nsr_image *in,
                                     const nsr_window_grid *grid, nsr_selection_map *map,
                                     nsr_error *err);
NSR_API void nsr_selection_map_free(nsr_selection_map *map);

/* The plain network (k = 1, src/nn/fold.c) that computes what NSR network m computes when its
 * selections are gamma (blocks * per_block rows of k * d weights, as one window of an
 * nsr_selection_map): each mixing conv's groups mixed into one kernel and bias per output
 * channel, or a fixed-size block's hidden channels' weights folded into its second conv. The
 * plain network's FLOPs, no selection. With one input's own selections it restores that input
 * as m does (to float rounding); with their mean over many inputs (nsr fold), as m does to the
 * extent that the selection does not depend on the input. Fails for a plain m, or a weight not
 * finite or negative. *plain is the caller's (nsr_model_free). */
NSR_API int nsr_model_fold(nsr_model **plain, const nsr_model *m, const float *gamma,
                           nsr_error *err);

/* Fold's converse (src/nn/fold.c): the NSR network of k = groups (fixed FLOPs, cardinals d,
 * one selection per conv or per block when shared) whose every group is a copy of plain's
 * kernels, its selection layers drawn from seed. Whatever it selects, softly or hard, it
 * computes what plain computes (the weights of a cardinal sum to 1 over equal kernels); training
 * it, hard selection included, lets the groups part from there ("sparse upcycling": a plain or
 * folded network's quality is the start of a network trained for --hard). Fails for a plain
 * network of more than one group, groups < 2, or cardinals not dividing every selected conv's
 * outputs. *nsr is the caller's (nsr_model_free). */
NSR_API int nsr_model_split(nsr_model **nsr, const nsr_model *plain, int groups, int cardinals,
                            int shared, uint64_t seed, nsr_error *err);

/* ---------------------------------------------------------------- training (src/train/) */

/* A training run (NSR.md section 4): Adam (beta 0.9/0.999, eps 1e-8) on the L1 loss over
 * batches of random LR patches and their aligned HR patches, learning rate x0.2 after 2/3 and
 * 5/6 of the iterations. Batch t is a pure function of (seed, t), and everything here is kept in
 * the run's checkpoints, so an interrupted run resumes bit for bit (nsr_train_resume).
 *
 * The run folder holds checkpoint.nsr (the newest checkpoint: the model, Adam's moments as
 * tensors "train.adam.m"/"train.adam.v", and these options as "train.*" metadata; itself a
 * loadable model file), log.csv (iteration,loss,lr,seconds,val_psnr: one row per step) and, at
 * the end, model.nsr (the model with its task and provenance, for inference). */
typedef struct nsr_train_options {
    nsr_arch arch;                /* a new network, initialised from seed (unused with init_path) */
    const char *init_path;        /* NULL, or a model file to start from. For a task of another
                                   * scale than its own (a denoising or JPEG task: scale 1), or
                                   * other init_channels, the run starts from a network of that
                                   * shape whose layers whose parameters all have the same
                                   * names and shapes (the blocks; the head too when the planes
                                   * stay) are the model's, the others (tail, skip) drawn from seed */
    int init_channels;            /* with init_path: 0 keeps the model's image planes, 1 or 3
                                   * changes them (a grey network from a colour one's body) */
    int init_groups;              /* with init_path: 0 keeps the model's selection; K >= 2 splits
                                   * a plain model into the NSR network of K equal groups,
                                   * init_cardinals cardinals, shared per block when init_shared
                                   * (nsr_model_split; its selection layers drawn from seed) */
    int init_cardinals, init_shared;
    nsr_task task;                /* SR at the network's scale (scale 0: whatever it is), the
                                   * LR made once per image (nsr_task_degrade); denoising or
                                   * JPEG at scale 1, drawn afresh for every patch (JPEG: the
                                   * patch is round-tripped alone, its 8x8 grid at its corner) */
    const char *const *data_dirs; /* folders of training images (PNG, JPEG, WebP; grey is
                                   * replicated to RGB, alpha dropped) */
    int data_dir_count;
    const char *val_dir;          /* NULL, or held-out images: mean Y-PSNR (pt_ir) by nsr_eval_image
                                   * with the whole-image soft-selection network (a blind task:
                                   * at the middle of its range, JPEG quality rounded down) */
    const char *run_dir;          /* created when missing; must not hold a run already */
    int patch;                    /* LR patch side, 48; images under patch + 4 (LR) are skipped */
    int batch;                    /* 16 */
    long iterations;              /* 10000 */
    double lr;                    /* 1e-3 */
    uint64_t seed;                /* 1: the initialisation and every random choice of the data */
    long checkpoint_every;        /* 1000; 0: only when stopped and at the end */
    long val_every;               /* 1000; 0: only at the end */
    const char *command;          /* provenance kept as "train.command", or NULL */
    /* How the NSR layers select during training (ours: the reference trains with the plain
     * softmax, T = 1 throughout, which these defaults keep). The softmax temperature goes
     * geometrically from select_t0 to select_t1 over the first select_anneal of the run (a
     * fraction, 0..1; 0: select_t1 throughout); from select_hard_from (a fraction of the run;
     * 1: never) on, the forward selects hard (the argmax group) and the backward goes straight
     * through the softmax; select_gumbel > 0 adds that much Gumbel noise to the logits;
     * select_balance > 0 adds a load-balancing term of that weight to the loss (for each
     * selection, (k/d) times the sum over groups and cardinals of the group's mean softmax
     * weight over the shard's patches, squared: 1 when the groups are used alike, k when one
     * takes every patch; the mean over the selections, times the weight), so that training
     * for hard selection keeps every group in use. The logged loss includes it. The model
     * keeps the last temperature for its soft inference ("select.temperature") and whether it
     * ended trained hard ("select.trained_hard"). */
    double select_t0, select_t1;  /* 1, 1 */
    double select_anneal;         /* 0 */
    double select_hard_from;      /* 1 */
    double select_gumbel;         /* 0 */
    double select_balance;        /* 0 */
    /* The batch in `shards` shards of batch/shards patches (a power of 2 dividing the batch;
     * 1: the batch in one piece). Each shard's gradient is computed alone and the gradients
     * are summed as a binary tree over the shards in order, the same additions in the same
     * order however the shards are spread over processes: a run on R ranks (R a power of 2
     * dividing shards, each taking shards/R consecutive shards) is the single-process run
     * with the same shards, bit for bit, and can be resumed on another R. */
    int shards;                   /* 1 */
    const struct nsr_train_comm *comm; /* NULL: this process trains alone */
} nsr_train_options;

/* The ranks of a distributed run (data parallel: MPI in the nsr program; the library only
 * calls sum). Every rank runs nsr_train (or nsr_train_resume) with the same options; rank 0
 * alone writes the run folder (checkpoints, log, model) and validates. */
typedef struct nsr_train_comm {
    int rank, size; /* size a power of 2 */
    /* Replaces buf (count floats, or doubles when is_double) on every rank with the sum of
     * every rank's buf, added as the binary tree over the ranks in order (recursive doubling:
     * at level l, rank r adds the buffer of rank r ^ 2^l; a + b == b + a exactly, so both hold
     * the same bits). 0, or -1 with err when the communication failed. */
    int (*sum)(void *ctx, void *buf, size_t count, int is_double, nsr_error *err);
    void *ctx;
} nsr_train_comm;

/* The defaults above; the default wdsr_nsr network (B 16, F 32, wm 4, k 4, d 16) at x2; no data,
 * validation or run folder. */
NSR_API void nsr_train_defaults(nsr_train_options *opts);

typedef enum nsr_train_event {
    NSR_TRAIN_LOADING = 0, /* an image was read: images_done of images_total */
    NSR_TRAIN_START = 1,   /* data and network ready; iteration is where training (re)starts */
    NSR_TRAIN_STEP = 2     /* a step was taken */
} nsr_train_event;

typedef struct nsr_train_progress {
    nsr_train_event event;
    long iteration;        /* steps done */
    long iterations;       /* steps of the whole run */
    double loss;           /* STEP: the batch's L1 loss before the update */
    double lr;             /* STEP: the learning rate of the update */
    double seconds;        /* training time so far, all sessions of the run together */
    double val_psnr;       /* STEP: mean validation Y-PSNR when measured after this step, else NAN */
    int checkpointed;      /* STEP: a checkpoint was written after this step */
    size_t images_done, images_total; /* LOADING, START: training images read (and skipped) */
    size_t images_skipped;
    const nsr_arch *arch;  /* START: the network, with params parameters */
    size_t params;
} nsr_train_progress;

/* Called for every event, on the thread that called nsr_train; returning non-zero stops the
 * run: after a step, a checkpoint is written and training returns NSR_TRAIN_STOPPED. */
typedef int (*nsr_train_callback)(void *ctx, const nsr_train_progress *progress);

#define NSR_TRAIN_STOPPED 1

/* Trains a new run. Besides OpenMP's threads it runs one thread of its own, which makes the
 * next batches while a step runs, and ends it before returning; the run folder is the run's
 * alone (two runs in one folder at once are not supported). The checkpoint of iteration 0 is
 * written first, so a run folder that holds anything can be resumed; a failure to load the
 * data removes the run again. Returns 0 when all
 * iterations are done (model.nsr written), NSR_TRAIN_STOPPED when the callback asked to stop
 * (also while loading: the run resumes from iteration 0), -1 on failure. A loss that is not
 * finite fails without updating the network or overwriting the last checkpoint. cb may be NULL. */
NSR_API int nsr_train(const nsr_train_options *opts, nsr_train_callback cb, void *ctx,
                      nsr_error *err);
/* Continues the run in run_dir from its checkpoint with the options saved there; log.csv is cut
 * back to the checkpoint's iteration. The steps taken are bit for bit those of an uninterrupted
 * run. comm: NULL alone, or this process's rank of a distributed run (any rank count dividing
 * the run's shards). Same returns as nsr_train. A finished run without model.nsr (killed just
 * before writing it) gets it, the bytes the uninterrupted run writes; a finished run with it is
 * an error. */
NSR_API int nsr_train_resume(const char *run_dir, const nsr_train_comm *comm,
                             nsr_train_callback cb, void *ctx, nsr_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NSR_H */
