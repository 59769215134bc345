# nsr - build, test, install.
#   make                 library (build/libnsr.a, build/libnsr.so) and program (build/nsr)
#   make test            builds and runs every test; ends with "N passed, N failed"
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make install PREFIX=/usr/local
#   BUILD=dir puts objects and programs in dir instead of build/ (or build-san/)
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
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o)
BENCH_OBJ := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
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

.PHONY: all test install clean FORCE
all: $(BUILD)/libnsr.a $(BUILD)/libnsr.so $(BUILD)/nsr

# The library's objects hide every symbol that include/nsr.h does not mark NSR_API: libnsr.so
# exports the nsr_* API only, and the engine's internals stay free to change.
$(BUILD)/src/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=hidden -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(HEADERS) | $(BUILD)/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
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
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BENCH_LIBS)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libnsr.a $(HEADERS) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libnsr.a $(LDLIBS)
$(BUILD)/tools $(BUILD)/bench $(BUILD)/tests:
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
	install -d $(DESTDIR)$(PREFIX)/share/nsr/models
	$(if $(wildcard models/*.nsr),install -m 644 $(wildcard models/*.nsr) $(DESTDIR)$(PREFIX)/share/nsr/models/)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*NSR_VERSION_STRING "\(.*\)"/\1/p' include/nsr.h)|' \
	    -e 's|@PKGS@|$(PKGS)|' nsr.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nsr.pc

clean:
	rm -rf build build-san
