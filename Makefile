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

LIB_SRC  := $(sort $(wildcard src/*.c))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS  := include/nsr.h $(wildcard src/*.h) $(wildcard tools/*.h) $(wildcard tests/*.h)

.PHONY: all test install clean
all: $(BUILD)/libnsr.a $(BUILD)/libnsr.so $(BUILD)/nsr

$(BUILD)/src/%.o: src/%.c $(HEADERS) | $(BUILD)/src
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(HEADERS) | $(BUILD)/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/libnsr.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libnsr.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libnsr.so.0 -o $@ $^ $(LDLIBS)
$(BUILD)/nsr: $(TOOL_OBJ) $(BUILD)/libnsr.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libnsr.a $(HEADERS) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libnsr.a $(LDLIBS)
$(BUILD)/src $(BUILD)/tools $(BUILD)/tests:
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
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*NSR_VERSION_STRING "\(.*\)"/\1/p' include/nsr.h)|' \
	    -e 's|@PKGS@|$(PKGS)|' nsr.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nsr.pc

clean:
	rm -rf build build-san
