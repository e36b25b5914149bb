# The two commands: `make run` and `make test`. Both start from a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install compile-locales chromium pdf-libs i18n bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	$(MAKE) --no-print-directory compile-locales
	touch $(STAMP)

install: pdf-libs $(STAMP)

compile-locales: $(BIN)/python
	@for po in locales/*/LC_MESSAGES/*.po; do [ -f "$$po" ] || continue; $(BIN)/pybabel -q compile -i "$$po" -o "$${po%.po}.mo"; done


# Links in the demo's messages (review requests, unsubscribe) point at the local server.
run: export GARAGE_PUBLIC_URL ?= http://127.0.0.1:5000
run: install
	$(BIN)/garage db upgrade
	$(BIN)/garage demo
	$(BIN)/garage serve --host 127.0.0.1 --port 5000

# Browser tests need Debian's chromium; install it where we can (root + apt), else they skip (not in CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	      || echo "chromium could not be installed; browser tests will skip (or fail under CI=true)"; \
	  else echo "chromium not found; browser tests will skip (or fail under CI=true)"; fi; }

# PDF printing (WeasyPrint) and browser screenshots need Pango and fonts with Cyrillic and Chinese glyphs.
pdf-libs:
	@{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libpangoft2-1.0.so.0' && fc-list 2>/dev/null | grep -qi dejavu \
	  && fc-list 2>/dev/null | grep -qi wenquanyi || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    PKGS="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-dejavu-core fonts-wqy-microhei"; \
	    (apt-get install -y -q $$PKGS >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$PKGS >/dev/null)) \
	      || echo "Pango could not be installed; PDF printing will not work"; \
	  else echo "Pango (libpangoft2-1.0-0) not found; install it for PDF printing"; fi; }

test: install chromium compile-locales
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

i18n: install
	$(BIN)/garage i18n update

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
