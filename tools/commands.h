/* commands.h - the list of subcommands. Included twice by nsr.c: once for the prototypes
 * below, once with NSR_COMMAND defined to build the table. Add a command with one line here
 * and its file tools/cmd_NAME.c defining int cmd_NAME(int argc, char **argv). */
#ifndef NSR_COMMAND
#define NSR_COMMAND(name, summary) int cmd_##name(int argc, char **argv);
#define NSR_COMMANDS_PROTOTYPES
#endif

NSR_COMMAND(convert, "convert an image between PNG, JPEG and WebP")
NSR_COMMAND(resize, "resize an image with MATLAB-compatible bicubic")
NSR_COMMAND(metrics, "PSNR, SSIM and PSNR-B of an image against a reference")
NSR_COMMAND(degrade, "add seeded Gaussian noise or JPEG artifacts to an image")
NSR_COMMAND(upscale, "upscale images with a model (or bicubic)")
NSR_COMMAND(denoise, "remove noise from images with a model")
NSR_COMMAND(dejpeg, "remove JPEG artifacts from images with a model")
NSR_COMMAND(eval, "measure restoration quality (PSNR, SSIM) on a folder of images")
NSR_COMMAND(new, "write an untrained network to a model file")
NSR_COMMAND(models, "list the models found by name: task, size, training, quality, file")
NSR_COMMAND(info, "show what a model file holds: network, parameters, task, provenance")
NSR_COMMAND(train, "train a network on image folders, or resume a training run")
NSR_COMMAND(bench, "time nsr against oneDNN, the FMA peak, the rebuttal's table and PyTorch")
NSR_COMMAND(fold, "an NSR model with its selections fixed to their mean, as a plain network")
NSR_COMMAND(maps, "draw which sparsity group each region of an image selects, block by block")

#ifdef NSR_COMMANDS_PROTOTYPES
#undef NSR_COMMAND
#undef NSR_COMMANDS_PROTOTYPES
#endif
