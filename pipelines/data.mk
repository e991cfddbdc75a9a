# pipelines/data.mk: training and evaluation sets from Debian's archive.
#
#   make -f pipelines/data.mk [DATA=dir] [SMALL=1] [-j N] [target]
#
# Targets and variables are described in man/man7/asmname-data.7.  Every
# product is a file under $(DATA), written under a temporary name and renamed
# when complete, so an interrupted build resumes where it stopped and -j is
# safe.  Nothing is installed and /etc/apt is not touched.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:

ROOT  := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
O     ?= $(ROOT)
BIN   ?= $(O)/bin
DATA  ?= $(HOME)/.cache/asmname/data
LOCAL ?=
P     := $(ROOT)/pipelines
export BIN LOCAL MIRROR SECURITY_MIRROR SUITE
# name-score finds the shipped synonym table here when the programs are built elsewhere (O=)
export ASMNAME_DATA ?= $(ROOT)/data

MIN_INSNS ?= 5
OPTS      ?= O0 O1 O2 O3
CC        := $(if $(filter default,$(origin CC)),gcc,$(CC))
TRIPLE_CFLAGS ?=
COMPILE_TIMEOUT ?= 300
BAG_DIM   ?= 512
BASELINES ?= most-frequent hash skel bag
# extra name-score options for the baselines (-t: without the runtime's functions)
SCORE_FLAGS ?= -t
# asm-tok over the splits when TOKENIZE=1 (then stats show token lengths)
TOKENIZE  ?= 0
# CLAP-ASM tokenizer directory (empty: asm-tok's default, $$ASMNAME_CLAP)
CLAP      ?=
TOK_CMD   ?= $(BIN)/asm-tok $(if $(CLAP),-m $(CLAP))

ifeq ($(SMALL),1)
# A few megabytes of downloads; builds in a few minutes on 2 cores.
DEV_PKGS   ?= zlib1g-dev libjansson-dev liblz4-dev libbsd-dev libogg-dev libmpc-dev libtre-dev libhiredis-dev
SRC_PKGS   ?= zlib
DBG_PKGS   ?= liblua5.3-0+liblua5.3-0-dbg
TEST_PKGS  ?= jansson libogg
VALID_PKGS ?= hiredis
OPTS       := O0 O2
else
# Static libraries of -dev packages: (asm, name) pairs at Debian's flags.
# Leaves out the source packages of the evaluation set (glibc, binutils,
# lua5.3, lua5.4, gsl, pcre3) so that their code is not trained on.
DEV_PKGS ?= libssl-dev libpython3.11-dev libsqlite3-dev libxml2-dev libx11-dev \
	libgcrypt20-dev libfreetype-dev libgnutls28-dev tcl8.6-dev tk8.6-dev libcapstone-dev \
	zlib1g-dev libavcodec-dev libglib2.0-dev libsdl2-dev libfftw3-dev libcairo2-dev \
	libgit2-dev libvpx-dev libarchive-dev libmbedtls-dev libcurl4-openssl-dev libwebp-dev \
	libx264-dev libevent-dev libpixman-1-dev libldap-dev libdw-dev libzstd-dev libsodium-dev \
	libtiff-dev libunistring-dev libmpfr-dev libuv1-dev libpcre2-dev libnghttp2-dev \
	libflac-dev libpcap0.8-dev libedit-dev libgd-dev libsasl2-dev libopus-dev libnl-3-dev \
	libssh2-1-dev libvorbis-dev libmicrohttpd-dev libelf-dev libmpc-dev liblz4-dev \
	libhiredis-dev libjansson-dev libbsd-dev libgdbm-dev libogg-dev libtre-dev libgmp-dev \
	libmsgpack-dev libdb5.3-dev libncurses-dev libpng-dev nettle-dev libxaw7-dev libfontconfig-dev \
	libblkid-dev libopenjp2-7-dev libxt-dev libxcb1-dev libreadline-dev libexpat1-dev libtheora-dev \
	libksba-dev libmp3lame-dev libgpg-error-dev libjpeg62-turbo-dev libselinux1-dev liblzma-dev \
	libpq-dev libexif-dev libusb-1.0-0-dev libxext-dev libmagic-dev libassuan-dev libjson-c-dev \
	libxmu-dev libnuma-dev libspeex-dev libxi-dev libcunit1-dev libb2-dev libyaml-dev libidn2-dev \
	libcap-dev libtasn1-6-dev libxrandr-dev libxpm-dev libltdl-dev libaudit-dev libpopt-dev \
	libgif-dev libargon2-dev libbz2-dev libgsm1-dev libpsl-dev comerr-dev libhdf5-dev libperl-dev \
	libcfitsio-dev libsuitesparse-dev libglpk-dev libzvbi-dev libxvidcore-dev libgsasl-dev \
	libopencore-amrnb-dev libtwolame-dev libvo-amrwbenc-dev
# Source packages compiled at each of $(OPTS) with -g: (src, asm, name) triples.
SRC_PKGS ?= zlib bzip2 lz4 cjson libzstd brotli libdeflate xxhash
# Groups pkg+pkg+...: stripped binaries and their -dbg packages.
DBG_PKGS ?= libc6+libc6-dbg binutils-x86-64-linux-gnu+libbinutils+binutils-x86-64-linux-gnu-dbg+libbinutils-dbg \
	liblua5.4-0+liblua5.4-0-dbg liblua5.3-0+liblua5.3-0-dbg libpcre3+libpcre3-dbg
# Source packages (not binary packages) of the test and validation splits.
TEST_PKGS  ?= libxml2 libgit2 curl libarchive libzstd
VALID_PKGS ?= libevent libuv1 libsodium tiff libpng1.6
endif
TEST_PCT  ?= 0
VALID_PCT ?= 0

comma := ,
empty :=
space := $(empty) $(empty)
csv    = $(subst $(space),$(comma),$(strip $(1)))

# The splits and the baselines depend on variables, not only on files: a
# stamp file per stage holds their values and is rewritten (so becomes newer
# than the products) only when they change.  MIN_INSNS and OPTS shape the
# per-package files: after changing them, remove $(DATA)/pairs, triples, eval.
varstamp = $(shell mkdir -p $(DATA)/.vars && { echo '$(2)' | cmp -s - $(DATA)/.vars/$(1) || echo '$(2)' > $(DATA)/.vars/$(1); })$(DATA)/.vars/$(1)
SPLIT_VARS := $(call varstamp,split,$(TEST_PKGS)|$(VALID_PKGS)|$(TEST_PCT)|$(VALID_PCT))
BASE_VARS  := $(call varstamp,baselines,$(BAG_DIM)|$(SCORE_FLAGS))

APT     := $(DATA)/apt
PAIRS   := $(DEV_PKGS:%=$(DATA)/pairs/%.msgpack)
TRIPLES := $(foreach p,$(SRC_PKGS),$(foreach o,$(OPTS),$(DATA)/triples/$(p)-$(o).msgpack))
EVALS   := $(DBG_PKGS:%=$(DATA)/eval/%.msgpack)
SETS    := $(DATA)/sets
SPLITS  := $(SETS)/train.msgpack $(SETS)/valid.msgpack $(SETS)/test.msgpack

.PHONY: all fetch pairs triples eval sets csv tok stats baselines report clean-sets help
all: sets $(SETS)/eval.msgpack csv stats baselines report
fetch: $(DEV_PKGS:%=$(DATA)/dev/%/source) $(SRC_PKGS:%=$(DATA)/src/%/source) $(DBG_PKGS:%=$(DATA)/dbg/%/source)
pairs: $(PAIRS)
triples: $(TRIPLES)
eval: $(SETS)/eval.msgpack
sets: $(SPLITS)
csv: $(SETS)/train.csv $(SETS)/valid.csv $(SETS)/test.csv
stats: $(DATA)/reports/stats.txt
baselines: $(DATA)/reports/baselines.txt
report: $(DATA)/reports/hygiene.tsv
# Unpacked packages are kept (not intermediate) but, being only reached
# through pattern rules, must be named here.
.SECONDARY: $(DEV_PKGS:%=$(DATA)/dev/%/source) $(SRC_PKGS:%=$(DATA)/src/%/source) \
	$(DBG_PKGS:%=$(DATA)/dbg/%/source) $(APT)/.done
help:
	@man -l $(ROOT)/man/man7/asmname-data.7

TOOLS := $(BIN)/asm-extract $(BIN)/data-clean $(BIN)/data-split $(BIN)/name-baseline $(BIN)/name-score $(BIN)/rec-dump
$(TOOLS):
	@echo "data.mk: $@ is missing: build the programs first (make O=$(O))" >&2; exit 1

# --- fetching (apt-get download / source into $(DATA), or copies of $(LOCAL)) ---
$(APT)/.done:
	$(P)/data-fetch.sh apt $(APT)
APT_DEP := $(if $(LOCAL),,$(APT)/.done)

$(DATA)/dev/%/source: | $(APT_DEP)
	$(P)/data-fetch.sh dev $(APT) $* $(DATA)/dev/$*
$(DATA)/src/%/source: | $(APT_DEP)
	$(P)/data-fetch.sh src $(APT) $* $(DATA)/src/$*
$(DATA)/dbg/%/source: | $(APT_DEP)
	$(P)/data-fetch.sh dbg $(APT) $* $(DATA)/dbg/$*

# --- pairs: every function of every .a, labelled, tiny ones out ----------------
$(DATA)/pairs/%.msgpack: $(DATA)/dev/%/source | $(TOOLS)
	@mkdir -p $(@D)
	find $(DATA)/dev/$*/ -name '*.a' -type f | LC_ALL=C sort > $@.list
	if [ -s $@.list ]; then \
		xargs -d '\n' $(BIN)/asm-extract < $@.list | $(BIN)/data-clean --pkg "$$(cat $<)" \
			--min-insns $(MIN_INSNS) --report $@.report > $@.tmp; \
	else \
		: > $@.tmp; printf 'in\t0\n' > $@.report; \
	fi
	printf 'archives\t%s\n' "$$(wc -l < $@.list)" >> $@.report
	rm -f $@.list; mv $@.tmp $@

# --- triples: one source package at one level ---------------------------------
define triple_rule
$(DATA)/triples/%-$(1).msgpack: $(DATA)/src/%/source | $(TOOLS)
	@mkdir -p $$(@D)
	MIN_INSNS=$(MIN_INSNS) CC="$(CC)" TRIPLE_CFLAGS="$(TRIPLE_CFLAGS)" COMPILE_TIMEOUT=$(COMPILE_TIMEOUT) \
		$(P)/data-triples.sh $(DATA)/src/$$* $(1) $$@
endef
$(foreach o,$(OPTS),$(eval $(call triple_rule,$(o))))

# --- splits: by source package, deduplicated across the whole set -------------
$(SPLITS) &: $(PAIRS) $(TRIPLES) $(SPLIT_VARS) | $(TOOLS)
	@mkdir -p $(SETS)
	$(BIN)/data-split -o $(SETS) --test "$(call csv,$(TEST_PKGS))" --valid "$(call csv,$(VALID_PKGS))" \
		--test-pct $(TEST_PCT) --valid-pct $(VALID_PCT) --report $(SETS)/split.report.tmp \
		$(PAIRS) $(TRIPLES)
	mv $(SETS)/split.report.tmp $(SETS)/split.report

# --- evaluation set: stripped binaries, names from their debug files ----------
# For every ELF file of the group that is not itself a debug file, the debug
# file with its build id; functions the debug file does not name are left out.
$(DATA)/eval/%.msgpack: $(DATA)/dbg/%/source | $(TOOLS)
	@mkdir -p $(@D)
	root=$(DATA)/dbg/$*/root; n=0; nodbg=0; : > $@.tmp; : > $@.reports; \
	while IFS= read -r f; do \
		head -c 4 "$$f" | grep -q 'ELF' || continue; \
		id=$$(readelf -n "$$f" 2>/dev/null | awk '/Build ID:/ { print $$3; exit }'); \
		dbg=$$root/usr/lib/debug/.build-id/$${id:0:2}/$${id:2}.debug; \
		if [ -z "$$id" ] || [ ! -f "$$dbg" ]; then nodbg=$$((nodbg + 1)); continue; fi; \
		n=$$((n + 1)); \
		$(BIN)/asm-extract --debug "$$dbg" "$$f" | $(BIN)/data-clean --pkg "$$(cat $<)" \
			--min-insns $(MIN_INSNS) --report $@.r >> $@.tmp; \
		cat $@.r >> $@.reports; \
	done < <(find $$root -type f ! -path '*/usr/lib/debug/*' ! -name '*.debug' | LC_ALL=C sort); \
	{ printf 'binaries\t%d\nbinaries_without_debug\t%d\n' $$n $$nodbg; \
	  awk -F'\t' '{ s[$$1] += $$2; if (!($$1 in o)) { o[$$1] = ++k; key[k] = $$1 } } \
		END { for (i = 1; i <= k; i++) printf "%s\t%d\n", key[i], s[key[i]] }' $@.reports; } > $@.report
	rm -f $@.r $@.reports; mv $@.tmp $@

# One evaluation set: duplicates within it and functions already in the
# training split (same normalized assembly) are left out.  A source package
# both in the evaluation set and in the training split is an error: its code
# would be trained on, whatever the hashes say.
$(SETS)/eval.msgpack: $(EVALS) $(SETS)/train.msgpack | $(TOOLS)
	$(BIN)/data-clean --dedup --exclude $(SETS)/train.msgpack --report $@.report $(EVALS) > $@.tmp
	both=$$(LC_ALL=C comm -12 \
		<($(BIN)/rec-dump $@.tmp | jq -r '.pkg // empty' | LC_ALL=C sort -u) \
		<($(BIN)/rec-dump $(SETS)/train.msgpack | jq -r '.pkg // empty' | LC_ALL=C sort -u)); \
	if [ -n "$$both" ]; then \
		echo "data.mk: source packages in both the evaluation set and train:" $$both \
		     "(take them out of DEV_PKGS/SRC_PKGS or DBG_PKGS)" >&2; \
		rm -f $@.tmp; exit 1; \
	fi
	mv $@.tmp $@

# --- the seed's CSV (source, asm, name): the records that carry source --------
$(SETS)/%.csv: $(SETS)/%.msgpack | $(TOOLS)
	{ echo 'source,asm,name'; \
	  $(BIN)/rec-dump $< | jq -r 'select(.src) | [.src, (.asm | join("\n")), .name] | @csv'; } > $@.tmp
	mv $@.tmp $@

# --- tokens (asm-tok), when TOKENIZE=1 ----------------------------------------
tok: $(SPLITS:%.msgpack=%.tok.msgpack) $(SETS)/eval.tok.msgpack
$(SETS)/%.tok.msgpack: $(SETS)/%.msgpack
	$(TOK_CMD) $< > $@.tmp
	mv $@.tmp $@
STATS_IN := $(if $(filter 1,$(TOKENIZE)),$(SPLITS:%.msgpack=%.tok.msgpack) $(SETS)/eval.tok.msgpack,$(SPLITS) $(SETS)/eval.msgpack)

# --- reports ------------------------------------------------------------------
$(DATA)/reports/stats.txt: $(STATS_IN) | $(TOOLS)
	@mkdir -p $(@D)
	$(P)/data-stats.sh $^ > $@.tmp
	mv $@.tmp $@

$(DATA)/reports/baseline-%.json: $(SPLITS) $(BASE_VARS) | $(TOOLS)
	@mkdir -p $(@D)
	$(BIN)/name-baseline -t $(SETS)/train.msgpack -m $* --dim $(BAG_DIM) $(SETS)/test.msgpack 2> $@.log \
		| $(BIN)/name-score -j $(SCORE_FLAGS) > $@.tmp
	mv $@.tmp $@
$(DATA)/reports/eval-baseline-%.json: $(SETS)/train.msgpack $(SETS)/eval.msgpack $(BASE_VARS) | $(TOOLS)
	@mkdir -p $(@D)
	$(BIN)/name-baseline -t $(SETS)/train.msgpack -m $* --dim $(BAG_DIM) $(SETS)/eval.msgpack 2> $@.log \
		| $(BIN)/name-score -j $(SCORE_FLAGS) > $@.tmp
	mv $@.tmp $@

# One table per set: functions scored, exact, exact on words, prefix, char F1,
# word F1 micro without and with the synonym table.
$(DATA)/reports/baselines.txt: export JQ_ROW = [$$b, .names.n, .names.exact, .names.exact_norm, .names.prefix, .names.char.f1, .names.word.micro.f1, (.names.word_syn.micro.f1 // "-")] | @tsv
$(DATA)/reports/baselines.txt: $(BASELINES:%=$(DATA)/reports/baseline-%.json) $(BASELINES:%=$(DATA)/reports/eval-baseline-%.json)
	{ for set in test eval; do \
	  [ $$set = test ] && pre= || pre=eval-; \
	  echo "$$set set (name-score $(SCORE_FLAGS); word F1 is micro)"; \
	  printf '%-14s %8s %8s %8s %8s %8s %8s %8s\n' baseline functions exact exact_w prefix char_f1 word_f1 syn_f1; \
	  for b in $(BASELINES); do \
		jq -r --arg b $$b "$$JQ_ROW" $(DATA)/reports/$$pre""baseline-$$b.json \
		| awk -F'\t' '{ printf "%-14s %8d", $$1, $$2; for (i = 3; i <= NF; i++) \
			printf ($$i == "-" ? " %8s" : " %8.4f"), $$i; print "" }'; \
	  done; echo; done; } > $@.tmp
	mv $@.tmp $@

# Every rule's count, one line per input file and rule.
$(DATA)/reports/hygiene.tsv: $(SPLITS) $(SETS)/eval.msgpack
	@mkdir -p $(@D)
	for f in $(PAIRS:%=%.report) $(TRIPLES:%=%.report) $(EVALS:%=%.report) $(SETS)/eval.msgpack.report; do \
		awk -F'\t' -v f="$${f#$(DATA)/}" '{ print f "\t" $$1 "\t" $$2 }' "$$f"; \
	done > $@.tmp
	awk -F'\t' '{ print "split.report\t" $$0 }' $(SETS)/split.report >> $@.tmp
	awk -F'\t' '$$1 ~ /^(pairs|triples|eval)\// { split($$1, a, "/"); s[a[1] "\t" $$2] += $$3 } \
		END { for (k in s) print "total:" k "\t" s[k] }' $@.tmp | LC_ALL=C sort >> $@.tmp
	mv $@.tmp $@

clean-sets:
	rm -rf $(SETS) $(DATA)/reports
