# The two commands of the README:   make book   (install + execute every chapter + build the site)
#                                   make test   (install + the test suite, which CI runs)
VENV ?= .venv
STAMP := $(VENV)/.mmdl-installed

.PHONY: install book test clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install.sh
	VENV=$(VENV) scripts/install.sh
	touch $(STAMP)

book: install
	$(VENV)/bin/mmdl book

test: install
	$(VENV)/bin/python -m pytest

clean:
	rm -rf build _build book/results.md
