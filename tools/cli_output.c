/* cli_output.c - the output options of the writing commands and their warnings (cli_output.h). */
#include "cli.h"
#include "cli_output.h"

int cli_output_options(const char *cmd, const opt_value *format, const opt_value *quality,
                       const opt_value *depth, const char *out_path, nsr_write_options *opts) {
    *opts = (nsr_write_options){NSR_FORMAT_UNKNOWN, quality ? (int)quality->i : 0,
                                depth ? (int)depth->i : 0};
    if (format && format->count && cli_parse_format(format->text, &opts->format))
        return cli_usage_error(cmd, "unknown format '%s' (png, jpeg, jpg or webp)", format->text);
    const nsr_format named = out_path ? nsr_format_from_path(out_path) : NSR_FORMAT_UNKNOWN;
    if (opts->format && named && opts->format != named)
        return cli_usage_error(cmd, "-f %s contradicts the extension of %s (leave out one of them)",
                               format->text, out_path);
    const nsr_format written = opts->format ? opts->format : named;
    if (quality && quality->count && written == NSR_FORMAT_PNG)
        return cli_usage_error(cmd, "-q has no meaning for PNG, which is lossless (leave it out, "
                                    "or write JPEG or WebP)");
    if (depth && depth->count && depth->i != 8 && depth->i != 16)
        return cli_usage_error(cmd, "--depth must be 8 or 16, not '%s'", depth->text);
    if (depth && depth->i == 16 && (written == NSR_FORMAT_JPEG || written == NSR_FORMAT_WEBP))
        return cli_usage_error(cmd, "--depth 16 needs PNG output: %s holds 8 bits",
                               nsr_format_name(written));
    return 0;
}

int cli_write_image(const nsr_image *img, const char *path, const nsr_write_options *opts) {
    const nsr_format format = opts && opts->format ? opts->format : nsr_format_from_path(path);
    if (img->alpha && format == NSR_FORMAT_JPEG)
        cli_note("%s: JPEG has no alpha; the alpha plane is dropped (write PNG or WebP to keep it)", path);
    const int depth = opts && opts->bit_depth ? opts->bit_depth : img->bit_depth;
    if (depth == 16 && (format == NSR_FORMAT_JPEG || format == NSR_FORMAT_WEBP))
        cli_note("%s: %s holds 8 bits; the 16-bit samples are rounded to 8 (write PNG to keep them)",
                 path, nsr_format_name(format));
    nsr_error err;
    return nsr_image_write(img, path, opts, &err) ? cli_error("%s", err.message) : 0;
}
