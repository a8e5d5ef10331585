# The two commands of the README: `make demo` and `make test`. Both set up what they
# need: Debian packages through apt-get, Python tools in .venv.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3

VENV := .venv
BIN := $(abspath $(VENV)/bin)
BUILD := .build
# A link tree for Python imports and ansible-playbook (edits show at once) ...
LINKED_COLLECTIONS := $(abspath $(BUILD)/linked)
# ... and a copy for ansible-test, which runs only inside an ansible_collections path and
# lists files with git when it finds a repository above it, so the copy lives outside this one.
COPIED_COLLECTION := /tmp/wasm.oci$(subst /,_,$(CURDIR))/ansible_collections/wasm/oci
FILTERS := $(abspath $(BUILD)/filters)
SAMPLE_FILTER := $(FILTERS)/add_header.wasm
ANSIBLE_ENV := ANSIBLE_COLLECTIONS_PATH=$(LINKED_COLLECTIONS) ANSIBLE_NOCOLOR=1 PATH=$(BIN):$$PATH

.PHONY: demo test units sanity lint integration deps system-deps copied-collection clean bench

demo: deps $(SAMPLE_FILTER) $(FILTERS)/add_header_v2.wasm
	$(ANSIBLE_ENV) examples/run-demo $(abspath $(BUILD)/demo) $(SAMPLE_FILTER) $(FILTERS)/add_header_v2.wasm

test: units lint sanity integration

deps: system-deps $(VENV)/.installed $(LINKED_COLLECTIONS)/ansible_collections/wasm/oci

system-deps:
	tests/harness/install-system-deps

$(VENV)/.installed: requirements.txt tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -r tests/requirements.txt
	touch $@

$(LINKED_COLLECTIONS)/ansible_collections/wasm/oci:
	mkdir -p $(@D)
	ln -sfn $(CURDIR) $@

$(FILTERS)/%.wasm: examples/filters/%/filter.wat | system-deps
	mkdir -p $(@D)
	wat2wasm $< -o $@

# A second version of the sample filter for rollouts: the same module with the header
# value add_header_v2 (13 bytes instead of 10).
$(FILTERS)/add_header_v2.wasm: examples/filters/add_header/filter.wat | system-deps
	mkdir -p $(@D)
	sed -e 's/(data (i32.const 32) "add_header")/(data (i32.const 32) "add_header_v2")/' \
	    -e 's/(i32.const 32) (i32.const 10)/(i32.const 32) (i32.const 13)/' $< > $(@D)/add_header_v2.wat
	grep -q '"add_header_v2"' $(@D)/add_header_v2.wat
	wat2wasm $(@D)/add_header_v2.wat -o $@

units: deps
	PYTHONPATH=$(LINKED_COLLECTIONS) $(BIN)/python -m pytest -q tests/unit

copied-collection: deps
	tests/harness/sync-collection $(COPIED_COLLECTION)

sanity: copied-collection
	tests/harness/provide-get-pip $(BIN)/python
	cd $(COPIED_COLLECTION) && $(BIN)/ansible-test sanity --python 3.11 --color no

# ansible-lint's production profile over the role, the shipped playbooks, the examples and the
# integration playbooks (.ansible-lint); ruff over all Python (ruff.toml); mypy strict over module_utils (mypy.ini).
lint: deps
	$(BIN)/ruff check .
	$(ANSIBLE_ENV) $(BIN)/ansible-lint
	$(BIN)/mypy

integration: deps $(SAMPLE_FILTER) $(FILTERS)/add_header_v2.wasm $(FILTERS)/always_503.wasm
	PATH=$(BIN):$$PATH PYTHONPATH=$(LINKED_COLLECTIONS) WASM_OCI_FILTERS=$(FILTERS) WASM_OCI_COLLECTIONS=$(LINKED_COLLECTIONS) \
		$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=30 tests/integration

# Not a test: the collection measured against skopeo, the ORAS SDK and the physical floor, per byte
# (benchmarks/transfer.py) and per host (benchmarks/hosts.py); the numbers go to benchmarks/results.json,
# and from there into the tables of docs/performance.md.
bench: deps $(SAMPLE_FILTER) $(FILTERS)/add_header_v2.wasm
	$(ANSIBLE_ENV) PYTHONPATH=$(LINKED_COLLECTIONS) $(BIN)/python benchmarks/transfer.py --results benchmarks/results.json
	$(ANSIBLE_ENV) PYTHONPATH=$(LINKED_COLLECTIONS) $(BIN)/python benchmarks/hosts.py --results benchmarks/results.json --filter $(SAMPLE_FILTER)
	$(BIN)/python benchmarks/performance_doc.py --results benchmarks/results.json --page docs/performance.md

clean:
	rm -rf $(BUILD) tests/output
