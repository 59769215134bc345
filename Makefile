# nsr - build, test, install.
#   make                 library (build/libnsr.a, build/libnsr.so), program (build/nsr) and
#                        examples (examples/*.c -> build/examples/)
#   make test            builds and runs every test; ends with "N passed, N failed"
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make install PREFIX=/usr/local   program, library, header, pkg-config file, man page, models
#   BUILD=dir puts objects and programs in dir instead of build/ (or build-san/)
#   make fuzz            libFuzzer harnesses (fuzz/fuzz_*.c; clang) in build-fuzz/
#   make fuzz-run        each harness for FUZZ_SECONDS (30) on its seed corpus (README: Fuzzing)
CC       ?= cc
PREFIX   ?= /usr/local
PKGS     := libpng libjpeg libwebp libwebpdemux libwebpmux zlib
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -fopenmp -fPIC -march=x86-64-v2
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpng -ljpeg -lwebpdemux -lwebpmux -lwebp -lz) -lm
LDFLAGS  += -fopenmp

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    ?= build
endif

LAYERS   := base image kernels nn run train
LIB_SRC  := $(sort $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
TOOL_SRC := $(sort $(wildcard tools/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o)
BENCH_OBJ := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
HEADERS  := include/nsr.h $(wildcard src/*/*.h) $(wildcard tools/*.h) $(wildcard bench/*.h) $(wildcard tests/*.h)

# `nsr bench` compares with oneDNN when its header and library are there (Debian: libdnnl-dev);
# without them it reports that comparison as unavailable. HAVE_DNNL=0 leaves it out.
ifndef HAVE_DNNL
HAVE_DNNL := $(shell echo 'int main(void) { return dnnl_version()->major; }' | $(CC) -include \
               oneapi/dnnl/dnnl.h -x c - -o /dev/null -ldnnl >/dev/null 2>&1 && echo 1 || echo 0)
endif
ifeq ($(HAVE_DNNL),1)
BENCH_CPPFLAGS := -DNSR_HAVE_DNNL
BENCH_LIBS     := -ldnnl
endif

# `nsr train` runs as ranks of an MPI job when Open MPI's development files are there (Debian:
# libopenmpi-dev, openmpi-bin); without them it trains alone. HAVE_MPI=0 leaves MPI out.
ifndef HAVE_MPI
HAVE_MPI := $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
endif
ifeq ($(HAVE_MPI),1)
MPI_CPPFLAGS := -DNSR_HAVE_MPI $(shell pkg-config --cflags ompi-c)
MPI_LIBS     := $(shell pkg-config --libs ompi-c)
endif

.PHONY: all test install clean fuzz fuzz-run FORCE
all: $(BUILD)/libnsr.a $(BUILD)/libnsr.so $(BUILD)/nsr $(EXAMPLES)

# The library's objects hide every symbol that include/nsr.h does not mark NSR_API: libnsr.so
# exports the nsr_* API only, and the engine's internals stay free to change.
$(BUILD)/src/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=hidden -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(HEADERS) | $(BUILD)/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/tools/ranks.o: tools/ranks.c $(HEADERS) $(BUILD)/tools/have_mpi | $(BUILD)/tools
	$(CC) $(CPPFLAGS) $(MPI_CPPFLAGS) $(CFLAGS) -c $< -o $@
# rebuilt when MPI comes or goes
$(BUILD)/tools/have_mpi: FORCE | $(BUILD)/tools
	@echo $(HAVE_MPI) | cmp -s - $@ || echo $(HAVE_MPI) >$@
# The model search path ends with the install prefix's models (make install PREFIX=...):
# rebuilt when PREFIX changes.
$(BUILD)/tools/model_path.o: tools/model_path.c $(HEADERS) $(BUILD)/tools/prefix | $(BUILD)/tools
	$(CC) $(CPPFLAGS) -DNSR_PREFIX='"$(PREFIX)"' $(CFLAGS) -c $< -o $@
$(BUILD)/tools/prefix: FORCE | $(BUILD)/tools
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' >$@
$(BUILD)/bench/%.o: bench/%.c $(HEADERS) | $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(BENCH_CPPFLAGS) $(CFLAGS) -c $< -o $@
# rebuilt when oneDNN comes or goes
$(BUILD)/bench/onednn.o: $(BUILD)/bench/have_dnnl
$(BUILD)/bench/have_dnnl: FORCE | $(BUILD)/bench
	@echo $(HAVE_DNNL) | cmp -s - $@ || echo $(HAVE_DNNL) >$@
$(BUILD)/libnsr.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libnsr.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libnsr.so.0 -o $@ $^ $(LDLIBS)
$(BUILD)/nsr: $(TOOL_OBJ) $(BENCH_OBJ) $(BUILD)/libnsr.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BENCH_LIBS) $(MPI_LIBS)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libnsr.a $(HEADERS) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libnsr.a $(LDLIBS)
# The examples see the public header only, as a program of its own would.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libnsr.a include/nsr.h | $(BUILD)/examples
	$(CC) -Iinclude $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libnsr.a $(LDLIBS)
$(BUILD)/tools $(BUILD)/bench $(BUILD)/tests $(BUILD)/examples:
	mkdir -p $@

# Every test binary and tests/cli_*.sh prints "PASS name" / "FAIL name: why" / "SKIP name: why";
# tests/run.sh runs them all and prints the tally.
test: all $(TESTS)
	NSR_BIN=$(abspath $(BUILD)/nsr) NSR_SANITIZE=$(SANITIZE) sh tests/run.sh $(TESTS) $(sort $(wildcard tests/cli_*.sh))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/nsr $(DESTDIR)$(PREFIX)/bin/nsr
	install -m 644 $(BUILD)/libnsr.a $(DESTDIR)$(PREFIX)/lib/libnsr.a
	install -m 755 $(BUILD)/libnsr.so $(DESTDIR)$(PREFIX)/lib/libnsr.so.0
	ln -sf libnsr.so.0 $(DESTDIR)$(PREFIX)/lib/libnsr.so
	install -m 644 include/nsr.h $(DESTDIR)$(PREFIX)/include/nsr.h
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/nsr.1 $(DESTDIR)$(PREFIX)/share/man/man1/nsr.1
	install -d $(DESTDIR)$(PREFIX)/share/nsr/models
	$(if $(wildcard models/*.nsr),install -m 644 $(wildcard models/*.nsr) $(DESTDIR)$(PREFIX)/share/nsr/models/)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*NSR_VERSION_STRING "\(.*\)"/\1/p' include/nsr.h)|' \
	    -e 's|@PKGS@|$(PKGS)|' nsr.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nsr.pc

# libFuzzer harnesses: the library built again by clang with coverage for the fuzzer and the
# sanitizers, as an archive (fuzz_tiling.c includes src/run/tiling.c, whose member the linker
# then leaves out).
FUZZ_CC     ?= clang
FUZZ_BUILD  := build-fuzz
FUZZ_CFLAGS := -O1 -g -std=c11 -Wall -Wextra -fopenmp -march=x86-64-v2 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-pass-failed
FUZZ_SRC    := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN    := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_OBJ    := $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/src/%.o)
FUZZ_SECONDS ?= 30

fuzz: $(FUZZ_BIN)
$(FUZZ_BUILD)/src/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/libnsr.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_BUILD)/libnsr.a $(HEADERS)
	$(FUZZ_CC) $(CPPFLAGS) -Ifuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libnsr.a $(LDLIBS)
# fuzz_cli runs the real cmd_NAME entry points on the tools' objects built the same way (nsr.c
# left out: libFuzzer has the main; no oneDNN, no MPI), with opt_main wrapped by the linker so
# that only the parse runs (fuzz/fuzz_cli.c says why).
FUZZ_TOOL_OBJ := $(filter-out $(FUZZ_BUILD)/tools/nsr.o,$(TOOL_SRC:tools/%.c=$(FUZZ_BUILD)/tools/%.o)) \
                 $(BENCH_SRC:bench/%.c=$(FUZZ_BUILD)/bench/%.o)
$(FUZZ_BUILD)/tools/%.o: tools/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/bench/%.o: bench/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/libtools.a: $(FUZZ_TOOL_OBJ)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_cli: fuzz/fuzz_cli.c fuzz/fuzz.h $(FUZZ_BUILD)/libtools.a $(FUZZ_BUILD)/libnsr.a $(HEADERS)
	$(FUZZ_CC) $(CPPFLAGS) -Ifuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer -Wl,--wrap=opt_main -o $@ $< \
	    $(FUZZ_BUILD)/libtools.a $(FUZZ_BUILD)/libnsr.a $(LDLIBS)
# Skips (and says so) where clang cannot build a fuzzer, so that CI runs it wherever it can.
fuzz-run:
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return d && n; }' | \
	    $(FUZZ_CC) -x c - -fsanitize=fuzzer,address,undefined -fopenmp -o /dev/null >/dev/null 2>&1; then \
	    $(MAKE) fuzz && sh scripts/fuzz_run.sh $(FUZZ_SECONDS) $(FUZZ_BIN); \
	else echo "SKIP fuzz-run: $(FUZZ_CC) cannot build libFuzzer harnesses (apt-get install clang libomp-dev)"; fi

clean:
	rm -rf build build-san $(FUZZ_BUILD)
