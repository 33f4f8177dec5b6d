# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make` builds ./twscope; every intermediate file goes under $(OUTPUT).

HOST_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
ARCH ?= $(HOST_ARCH)
# `make ARCH=arm64` on x86-64 cross-builds with Debian's cross compiler and the arm64 -dev
# packages (multiarch: scripts/deps.sh --cross arm64); everything goes under build/arm64.
TRIPLET_x86 := x86_64-linux-gnu
TRIPLET_arm64 := aarch64-linux-gnu
ifneq ($(ARCH),$(HOST_ARCH))
ifeq ($(TRIPLET_$(ARCH)),)
$(error ARCH=$(ARCH): expected x86 or arm64)
endif
OUTPUT ?= build/$(ARCH)
CC := $(TRIPLET_$(ARCH))-gcc
PKG_CONFIG ?= env PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET_$(ARCH))/pkgconfig:/usr/share/pkgconfig \
	pkg-config
BIN := $(OUTPUT)/twscope
CROSS := $(ARCH)
endif
OUTPUT ?= build
BIN ?= twscope
PREFIX ?= /usr/local
DESTDIR ?=
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

.PHONY: all deps run test unit integration install uninstall clean vmlinux bench soak format \
	vmtest deb deb-test deb-vmtest k8s-validate
all: $(BIN)

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

$(BIN): $(USER_OBJS)
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
	$(Q)$(MAKE) --no-print-directory twscope $(UNIT_BINS) $(ASAN_UNIT_BINS) $(OUTPUT)/churn \
		$(OUTPUT)/unitseccomp
	$(Q)python3 tests/run_all.py --binary ./twscope $(UNIT_BINS) $(ASAN_UNIT_BINS)

ifneq ($(CROSS),)
.PHONY: twscope cross-deps
twscope: $(BIN)
# the cross compiler and the arm64 libraries, installed when missing
cross-deps:
	$(Q)./scripts/deps.sh --cross $(CROSS)
$(USER_OBJS) $(OUTPUT)/churn: | cross-deps
endif

# `make vmtest KERNEL=6.1|6.12|all [ARCH=arm64]`: the integration tests inside qemu on Debian's
# kernel packages (fetched once into $(OUTPUT)/vmtest); for arm64 on an arm64 Debian root file
# system unpacked there, against the cross-built agent. VMTEST_ARGS go to tests/integration/run.py:
# every test but the conflict matrix, whose hundreds of cases take 9 minutes under TCG and
# whose rules are user space's (test_bind takes each kernel path), and the deploy/ tests: no
# kernel changes their files, and the service and the DaemonSet's container have passed under
# TCG on 6.12 only (VMTEST_ARGS="-k test_systemd.test_service -k test_kubernetes.test_daemonset").
# A failed test runs once more (TCG runs at the speed the host has to spare) and the summary
# names those that needed it.
KERNEL ?= all
VMTEST_KERNELS := $(if $(filter all,$(KERNEL)),6.1 6.12,$(KERNEL))
VMTEST_ARGS_x86 := -x test_matrix -x test_dashboard -x test_rules -x test_man -x test_systemd \
	-x test_kubernetes --retry 1
# Emulated arm64 runs a test in about 11 s (a minute before pauth-impdef, the programs' load
# mostly): CI takes a smoke set of each kind of kernel path; VMTEST_ARGS="$(VMTEST_ARGS_x86)" runs
# them all (1004 s in the 6.1 guest: 80 passed).
VMTEST_ARGS_arm64 := -k test_bind.test_listener_conflict_names_owner \
	-k test_bind.test_restart_without_reuseaddr_hits_time_wait \
	-k test_bind.test_connect_ephemeral_exhausted -k test_bind.test_udp_bind_conflict \
	-k test_snapshot.test_brief_holder_that_exited_is_named \
	-k test_snapshot.test_fastopen_sendto_is_a_connect -k test_states.test_state_sequence_ipv6 \
	-k test_timewait.test_server_closes_first_local_side \
	-k test_timewait.test_client_closes_first_remote_side --retry 1
VMTEST_ARGS ?= $(VMTEST_ARGS_$(ARCH))

vmtest:
	$(Q)./scripts/deps.sh --vmtest $(if $(CROSS),--cross $(CROSS))
	$(Q)$(MAKE) --no-print-directory $(BIN) $(OUTPUT)/churn $(if $(CROSS),,$(OUTPUT)/unitseccomp)
	$(Q)VMTEST_ARCH=$(ARCH) VMTEST_BINARY=$(BIN) VMTEST_CHURN=$(OUTPUT)/churn \
		python3 scripts/vmtest_all.py $(OUTPUT)/vmtest $(VMTEST_KERNELS) -- $(VMTEST_ARGS)

run: deps
	$(Q)$(MAKE) --no-print-directory twscope
	./twscope

bench:
	$(Q)./scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory twscope $(OUTPUT)/churn $(OUTPUT)/renderbench
	$(Q)fail=0; python3 tests/bench/bench.py --binary ./twscope --churn $(OUTPUT)/churn \
		--renderbench $(OUTPUT)/renderbench || fail=1; \
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

# The agent's user-space cost per record (reorder, text and JSON lines), in CPU time.
$(OUTPUT)/renderbench: tests/bench/renderbench.c $(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN_LDFLAGS) $< $(LIB_OBJS) $(PKG_LIBS) -lm -lpthread -o $@

# Applies a systemd unit's system call settings where systemd is not PID 1 (test_systemd).
$(OUTPUT)/unitseccomp: tests/helpers/unitseccomp.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN_LDFLAGS) $< $(PKG_LIBS) -o $@

$(OUTPUT):
	$(Q)mkdir -p $@

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/twscope

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/twscope

# build/twscope_VERSION_ARCH.deb (debhelper, then lintian); deb-test installs, runs, upgrades and
# purges it on this host (as root: it changes the host's packages, so it is not part of make test).
DEB_ARCH_x86 := amd64
DEB_ARCH_arm64 := arm64
deb:
	$(Q)./scripts/deps.sh --deb $(if $(CROSS),--cross $(CROSS))
	$(Q)./scripts/mkdeb.sh $(if $(CROSS),--arch $(DEB_ARCH_$(ARCH)))

# `make deb-vmtest ARCH=arm64 [KERNEL=6.12]`: the arm64 package in an arm64 guest (Debian's 6.1 by
# default) on a debootstrapped Debian 12 with a dpkg database (its second stage runs in a first
# boot, cached in $(OUTPUT)/vmtest): apt install ./deb, the packaged twscope run as the README's
# quick start against a server's TIME_WAITs and EADDRINUSE on loopback, then a purge.
DEB_VMTEST_KERNEL := $(if $(filter 6.1 6.12,$(KERNEL)),$(KERNEL),6.1)
deb-vmtest:
	$(if $(filter arm64,$(ARCH)),,$(error deb-vmtest: ARCH=arm64 only; x86's package: make deb-test))
	$(Q)./scripts/deps.sh --vmtest --deb $(if $(CROSS),--cross $(CROSS))
	$(Q)$(MAKE) --no-print-directory deb
	$(Q)VMTEST_ARCH=$(ARCH) VMTEST_ROOTFS=dpkg VMTEST_RUN=tests/deb/test_deb_guest.py \
		./scripts/vmtest.sh $(OUTPUT)/vmtest $(DEB_VMTEST_KERNEL) \
		--deb build/twscope_$(VERSION)_$(DEB_ARCH_$(ARCH)).deb --version $(VERSION)

# deploy/kubernetes against the Kubernetes OpenAPI schemas, offline once the models are installed
# from the npm registry into $(OUTPUT)/npm (kubectl --dry-run would need an API server).
K8S_NPM := $(OUTPUT)/npm
K8S_MODELS := kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1
k8s-validate:
	$(Q)./scripts/deps.sh --k8s
	$(Q)mkdir -p $(K8S_NPM)
	$(Q)[ -d $(K8S_NPM)/node_modules/kubernetes-models ] || (cd $(K8S_NPM) && \
		npm install --no-audit --no-fund --loglevel=error $(K8S_MODELS) >/dev/null)
	$(Q)cp scripts/k8s-validate.mjs $(K8S_NPM)/
	$(Q)node $(K8S_NPM)/k8s-validate.mjs deploy/kubernetes/*.yaml

deb-test: deb $(OUTPUT)/unitseccomp
	$(Q)python3 tests/deb/test_deb.py --deb $(OUTPUT)/twscope_$(VERSION)_$(shell dpkg --print-architecture).deb

# Regenerates the committed vmlinux.h from the running kernel's BTF; for another architecture
# from the BTF of Debian's 6.12 kernel for it, booted by vmtest (no test run).
vmlinux:
ifeq ($(CROSS),)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp
else
	$(MAKE) --no-print-directory vmtest KERNEL=6.12 VMTEST_ARGS="-k no-test-is-named-this"
	$(BPFTOOL) btf dump file $(OUTPUT)/vmtest/$(ARCH)-6.12/out/btf format c > $(VMLINUX).tmp
endif
	mv $(VMLINUX).tmp $(VMLINUX)

format:
	clang-format -i bpf/*.c bpf/*.h include/*.h user/*.c user/*.h tests/unit/*.c tests/bench/*.c \
		tests/helpers/*.c

clean:
	rm -rf $(OUTPUT) $(BIN)

-include $(wildcard $(OUTPUT)/bpf/*.d $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d \
	$(ASAN_OUTPUT)/user/*.d $(ASAN_OUTPUT)/tests/*.d)
