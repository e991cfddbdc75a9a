# asmname build.  `make` builds everything it can; `make test` installs what
# is missing (scripts/deps.sh), builds and runs every test; `make CUDA=0`
# leaves the CUDA part out even where nvcc is present.
#
# Layout: common/*.c -> build/libasmname.a; kernels/*.cu -> the same library
# when CUDA is on; tools/<name>.c -> bin/<name>; tests/unit/<name>.c ->
# build/tests/<name>.  New files are picked up without editing this file.

CC      ?= cc
NVCC    ?= nvcc
OPT     ?= -O2
NVCC_ARCH ?= -arch=sm_90
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-format-truncation -Wno-unused-parameter \
           -fopenmp -pthread -Icommon -MMD -MP
LDLIBS  += -lcapstone -lmsgpackc -lz -lopenblas -lpcre2-8 -lutf8proc -ljansson -lm -fopenmp -pthread
PREFIX  ?= /usr/local

HAVE_NVCC := $(shell command -v $(NVCC) 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(HAVE_NVCC),1,0)
endif
ifeq ($(CUDA),1)
  ifeq ($(HAVE_NVCC),)
    $(error CUDA=1 but nvcc was not found)
  endif
  NVCC := $(firstword $(HAVE_NVCC))
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  CFLAGS += -DASMNAME_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
  NVFLAGS ?= $(OPT) $(NVCC_ARCH) -std=c++17 -Icommon -Xcompiler -fPIC,-Wall -MMD -MP
endif

LIB_SRC  := $(sort $(wildcard common/*.c))
CU_SRC   := $(if $(filter 1,$(CUDA)),$(sort $(wildcard kernels/*.cu)))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))

# O=dir puts build/ and bin/ under dir (several builds side by side).
O       ?= .
B       := $(O)/build
BIN     := $(O)/bin
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(CU_SRC:%.cu=$(B)/%.o)
TOOLS    := $(TOOL_SRC:tools/%.c=$(BIN)/%)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
LIB      := $(B)/libasmname.a

.PHONY: all deps test test-only demo fuzz bench clean install gpu-check
all: $(TOOLS) $(TESTS)
	@echo "built $(words $(TOOLS)) programs ($(if $(filter 1,$(CUDA)),with,without) CUDA)"

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/kernels/%.o: kernels/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BIN)/%: $(B)/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(B)/tests/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(B)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

# Installs the Debian packages that are missing (needs root, or says what to install).
deps:
	@scripts/deps.sh

test: deps
	$(MAKE) all
	@O=$(O) tests/run.sh

# The tests without the package check (for machines set up by hand).
test-only: all
	@O=$(O) tests/run.sh

# The first of README's two commands: deps, build, and the main job on a real binary.
demo: deps
	$(MAKE) all
	@echo '== the first 3 functions of $(or $(DEMO_BIN),/bin/ls), as JSON Lines:'
	$(BIN)/asm-extract $(or $(DEMO_BIN),/bin/ls) | $(BIN)/rec-dump --head 3

# libFuzzer harnesses (clang); FUZZ_TIME seconds each.
FUZZ_TIME ?= 60
fuzz: $(LIB_SRC)
	@tests/fuzz/run.sh $(FUZZ_TIME)

bench: all
	@for b in tests/bench/*.sh; do case $$b in *-gpu.sh) continue ;; esac; \
		echo "== $$b"; sh $$b || exit 1; done

gpu-check:
	@scripts/gpu-check.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	for s in 1 5 7; do install -d $(DESTDIR)$(PREFIX)/share/man/man$$s && \
		install -m 644 man/man$$s/*.$$s $(DESTDIR)$(PREFIX)/share/man/man$$s || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/share/asmname
	install -m 644 data/* $(DESTDIR)$(PREFIX)/share/asmname

clean:
	rm -rf $(B) $(BIN)

.SECONDARY:
-include $(shell find $(B) -name '*.d' 2>/dev/null)
