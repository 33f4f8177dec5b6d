# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make` builds ./twscope; every intermediate file goes under $(OUTPUT).

OUTPUT ?= build
PREFIX ?= /usr/local
DESTDIR ?=
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG ?= clang
CC ?= cc
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PKG_CONFIG ?= pkg-config
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

VMLINUX := vmlinux/$(ARCH)/vmlinux.h
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKEL := $(OUTPUT)/twscope.skel.h

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
# Pure modules the unit tests link without BPF or root.
LIB_OBJS := $(filter-out $(OUTPUT)/user/main.o $(OUTPUT)/user/loader.o \
	$(OUTPUT)/user/census.o $(OUTPUT)/user/metrics_http.o $(OUTPUT)/user/check.o \
	$(OUTPUT)/user/twprobe.o,$(USER_OBJS))

PKGS := libbpf libelf zlib libmicrohttpd libseccomp
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
# Debian's hardening (fortify, stack protector, PIE, full RELRO with -z now); HARDEN= turns it off.
DPKG_BUILDFLAGS := $(shell command -v dpkg-buildflags 2>/dev/null)
ifneq ($(DPKG_BUILDFLAGS),)
HARDEN_ENV := DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CFLAGS_MAINT_STRIP='-g -O2'
HARDEN ?= $(filter-out -ffile-prefix-map=%,$(shell $(HARDEN_ENV) dpkg-buildflags --get CPPFLAGS) \
	$(shell $(HARDEN_ENV) dpkg-buildflags --get CFLAGS))
HARDEN_LDFLAGS ?= $(shell $(HARDEN_ENV) dpkg-buildflags --get LDFLAGS)
else
HARDEN ?= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wformat -Werror=format-security
HARDEN_LDFLAGS ?= -Wl,-z,relro -Wl,-z,now
endif
cc_has = $(shell $(CC) $(1) -Werror -E -x c /dev/null >/dev/null 2>&1 && echo $(1))
HARDEN += -fPIE $(call cc_has,-fstack-clash-protection) $(call cc_has,-fcf-protection)
HARDEN_LDFLAGS += -pie
# The unit tests run a second time built with these (make test, CI).
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_OUTPUT := $(OUTPUT)/asan
WARNINGS := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wformat=2 -Wshadow
BASE_CFLAGS := $(CFLAGS) $(WARNINGS) -std=gnu11 -D_GNU_SOURCE -DTWSCOPE_VERSION='"$(VERSION)"' \
	-Iinclude -Iuser -I$(OUTPUT) $(PKG_CFLAGS) -MMD -MP
ALL_CFLAGS := $(BASE_CFLAGS) $(HARDEN)
ASAN_CFLAGS := $(BASE_CFLAGS) $(SANITIZE)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Wno-unused-function -Iinclude -Ibpf -Ivmlinux/$(ARCH) -MMD -MP

.PHONY: all deps run test unit integration install uninstall clean vmlinux bench soak format vmtest
all: twscope

deps:
	$(Q)./scripts/deps.sh

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/twscope.bpf.o: $(BPF_OBJS)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(SKEL): $(OUTPUT)/twscope.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name twscope_bpf > $@.tmp && mv $@.tmp $@

$(USER_OBJS): $(SKEL)

$(OUTPUT)/user/%.o: user/%.c | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

twscope: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(HARDEN) $(HARDEN_LDFLAGS) $^ $(PKG_LIBS) -lm -lpthread -o $@

$(OUTPUT)/bpf $(OUTPUT)/user $(OUTPUT)/tests $(ASAN_OUTPUT)/user $(ASAN_OUTPUT)/tests:
	$(Q)mkdir -p $@

# Unit tests: pure user-space modules, no root.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN_LDFLAGS) $< $(LIB_OBJS) -lcmocka $(PKG_LIBS) -lm -lpthread -o $@

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
ASAN_LIB_OBJS := $(patsubst $(OUTPUT)/user/%,$(ASAN_OUTPUT)/user/%,$(LIB_OBJS))
ASAN_UNIT_BINS := $(patsubst tests/unit/%.c,$(ASAN_OUTPUT)/tests/%,$(UNIT_SRCS))

$(ASAN_LIB_OBJS): $(SKEL)

$(ASAN_OUTPUT)/user/%.o: user/%.c | $(ASAN_OUTPUT)/user
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(ASAN_CFLAGS) -c $< -o $@

$(ASAN_OUTPUT)/tests/%: tests/unit/%.c $(ASAN_LIB_OBJS) | $(ASAN_OUTPUT)/tests
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(ASAN_CFLAGS) $< $(ASAN_LIB_OBJS) -lcmocka $(PKG_LIBS) -lm -lpthread -o $@

unit: $(UNIT_BINS) $(ASAN_UNIT_BINS)
	$(Q)python3 tests/run_all.py --unit-only $(UNIT_BINS) $(ASAN_UNIT_BINS)

integration: twscope
	$(Q)python3 tests/integration/run.py --binary ./twscope

test:
	$(Q)./scripts/deps.sh --test
	$(Q)$(MAKE) --no-print-directory twscope $(UNIT_BINS) $(ASAN_UNIT_BINS) $(OUTPUT)/churn
	$(Q)python3 tests/run_all.py --binary ./twscope $(UNIT_BINS) $(ASAN_UNIT_BINS)

# `make vmtest KERNEL=6.1|6.12|all`: the integration tests inside qemu on Debian's kernel
# packages (fetched once into $(OUTPUT)/vmtest). VMTEST_ARGS go to tests/integration/run.py:
# every test but the conflict matrix, whose hundreds of cases take 9 minutes under TCG and
# whose rules are user space's (test_bind takes each kernel path).
KERNEL ?= all
VMTEST_KERNELS := $(if $(filter all,$(KERNEL)),6.1 6.12,$(KERNEL))
VMTEST_ARGS ?= -x test_matrix

vmtest:
	$(Q)./scripts/deps.sh --vmtest
	$(Q)$(MAKE) --no-print-directory twscope $(OUTPUT)/churn
	$(Q)python3 scripts/vmtest_all.py $(OUTPUT)/vmtest $(VMTEST_KERNELS) -- $(VMTEST_ARGS)

run: deps
	$(Q)$(MAKE) --no-print-directory twscope
	./twscope

bench:
	$(Q)./scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory twscope $(OUTPUT)/churn
	$(Q)fail=0; python3 tests/bench/bench.py --binary ./twscope --churn $(OUTPUT)/churn || fail=1; \
	python3 tests/bench/snapbench.py --binary ./twscope --churn $(OUTPUT)/churn || fail=1; exit $$fail

# A long run under churn, namespace churn and /metrics abuse: `make soak SOAK_MINUTES=10`.
SOAK_MINUTES ?= 30
soak:
	$(Q)./scripts/deps.sh --test
	$(Q)$(MAKE) --no-print-directory twscope $(OUTPUT)/churn
	$(Q)python3 tests/bench/soak.py --binary ./twscope --churn $(OUTPUT)/churn \
		--minutes $(SOAK_MINUTES)

$(OUTPUT)/churn: tests/bench/churn.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< -lpthread -o $@

$(OUTPUT):
	$(Q)mkdir -p $@

install: twscope
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 twscope $(DESTDIR)$(PREFIX)/sbin/twscope

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/twscope

# Regenerates the committed vmlinux.h from the running kernel's BTF.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp
	mv $(VMLINUX).tmp $(VMLINUX)

format:
	clang-format -i bpf/*.c bpf/*.h include/*.h user/*.c user/*.h tests/unit/*.c tests/bench/*.c

clean:
	rm -rf $(OUTPUT) twscope

-include $(wildcard $(OUTPUT)/bpf/*.d $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d \
	$(ASAN_OUTPUT)/user/*.d $(ASAN_OUTPUT)/tests/*.d)
