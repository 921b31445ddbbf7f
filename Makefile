# The commerce backend: one static helper library (shared/), one FastCGI
# binary per endpoint group (handlers/<group>/), unit tests (tests/unit/).
#
#   make                  build everything into build/
#   make test             every test: unit tests, then end-to-end on a private stack
#   make unit             unit tests only
#   make SANITIZE=1       build with AddressSanitizer and UBSan (into build-asan/)
#   make memcheck         unit tests under valgrind, end-to-end tests against ASan+UBSan pools
#   make install          binaries to $(DESTDIR)$(PREFIX)/lib/commerce/bin, SQL, nginx templates
#   make WERROR=1         warnings are errors (CI sets CI=true, which implies it)

PREFIX	?= /usr/local
DESTDIR	?=
PKGS	 = fcgi json-c libpq hiredis libcurl libcrypto libargon2

CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter
HARDEN	 = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now

ifneq ($(filter true 1,$(CI) $(WERROR)),)
WARN	+= -Werror
endif

ifeq ($(SANITIZE),1)
BUILD	?= build-asan
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer
HARDEN	 = -fPIE
else
BUILD	?= build
SAN	 =
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(SAN) $(CFLAGS) \
	     $(PKG_CFLAGS) -Ishared -MMD -MP
ALL_LDFLAGS = $(LDHARDEN) $(SAN) $(LDFLAGS)

LIB_SRC	 = $(wildcard shared/*.c)
LIB_OBJ	 = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB	 = $(BUILD)/lib/libcommerce.a

GROUPS	 = $(notdir $(patsubst %/,%,$(wildcard handlers/*/)))
BINS	 = $(GROUPS:%=$(BUILD)/bin/%)

UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT	 = $(BUILD)/tests/unit

.PHONY: all test unit e2e memcheck install clean deps
.DEFAULT_GOAL := all

all: $(BINS) $(UNIT)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# A group's binary is every .c file in its folder, linked with the library.
group_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard handlers/$(1)/*.c))
.SECONDEXPANSION:
$(BUILD)/bin/%: $$(call group_objs,$$*) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(UNIT): $(UNIT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

deps:
	@scripts/deps

# Unit tests and end-to-end tests, with one closing count for both.
test: deps
	@$(MAKE) --no-print-directory all
	@scripts/test-all

unit: $(UNIT)
	$(UNIT)

e2e: all
	tests/run-e2e

# Memory errors and leaks: valgrind on the unit tests; the end-to-end suite
# against pools built with ASan and UBSan, whose reports land in
# var/sanitizer/ (an empty folder is a clean run).
memcheck: all
	valgrind -q --leak-check=full --error-exitcode=9 $(UNIT)
	$(MAKE) --no-print-directory SANITIZE=1 all
	rm -rf var/sanitizer && mkdir -p var/sanitizer
	BIN_DIR=$(CURDIR)/build-asan/bin \
	ASAN_OPTIONS=log_path=$(CURDIR)/var/sanitizer/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/var/sanitizer/ubsan:print_stacktrace=1 \
	    tests/run-e2e
	@if [ -n "$$(ls var/sanitizer)" ]; then cat var/sanitizer/*; exit 1; fi
	@echo "memcheck: no sanitizer reports"

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/commerce/bin $(DESTDIR)$(PREFIX)/share/commerce/sql \
		$(DESTDIR)$(PREFIX)/share/commerce/nginx $(DESTDIR)$(PREFIX)/share/commerce/systemd
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/lib/commerce/bin/
	install -m 0644 sql/*.sql $(DESTDIR)$(PREFIX)/share/commerce/sql/
	install -m 0644 nginx/* $(DESTDIR)$(PREFIX)/share/commerce/nginx/
	install -m 0644 scripts/systemd/* $(DESTDIR)$(PREFIX)/share/commerce/systemd/

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(wildcard $(BUILD)/obj/handlers/*/*.d)
