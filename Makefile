# segment: customer segments as roaring bitmaps, for PostgreSQL 15+

EXTENSION = segment
EXTVERSION = 0.1.0
MODULE_big = segment
PGFILEDESC = "segment - customer segments as roaring bitmaps"

OBJS = \
	src/segment.o \
	src/roaring_format.o \
	src/kernels.o \
	src/container_ops.o \
	src/segment_writer.o \
	src/segment_cache.o \
	src/segment_io.o \
	src/segment_ops.o \
	src/segment_funcs.o \
	src/segment_sample.o \
	src/segment_agg.o \
	src/segment_support.o \
	src/catalog.o \
	src/clock.o \
	src/rule.o \
	src/evaluate.o \
	src/process.o \
	src/membership.o \
	src/storage.o \
	src/pending.o \
	src/notify.o \
	src/triggers.o \
	src/rfm.o \
	src/ltv.o \
	src/ltv_models.o

# The install script is built from one file per concern under src/sql/,
# in this order (later parts use what earlier ones define).
INSTALL_PARTS = \
	src/sql/type.sql \
	src/sql/ltv.sql \
	src/sql/live.sql \
	src/sql/behaviour.sql \
	src/sql/value.sql
DATA_built = segment--$(EXTVERSION).sql
DOCS := $(wildcard doc/*.md)

# Debian's libroaring-dev (CRoaring 0.2.66); never vendored.
SHLIB_LINK = -lroaring
PG_CPPFLAGS = -Isrc

# pg_regress tests: top-level sql/ and expected/ (contrib layout).  Each
# run starts from a database with the extension created.
REGRESS := $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=segment

# Isolation specs and their outputs live under test/.
ISOLATION := $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

segment--$(EXTVERSION).sql: $(INSTALL_PARTS)
	{ echo '/* segment--$(EXTVERSION).sql: built from src/sql/ by the Makefile */'; \
	  echo; \
	  echo '-- complain if script is sourced in psql, rather than via CREATE EXTENSION'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION segment" to load this file. \quit'; \
	  for part in $^; do echo; cat $$part; done; } > $@

# PGXS does not track headers: rebuild everything when one changes.
$(OBJS): $(wildcard src/*.h)

# The fuzz client and the format fuzzer are built on demand by test/fuzz/.
.PHONY: fuzz
fuzz:
	$(MAKE) -C test/fuzz
