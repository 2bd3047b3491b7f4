# Every language replays tests/fixtures/*.json and records what it ran in target/conformance/.
.PHONY: test-conformance

test-conformance: ## Check that every language ran every shared case (no silent skips)
	python3 scripts/check_conformance.py rust python node c go
