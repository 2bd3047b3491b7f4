# Redis: the shared tier (cache L2, shared rate limits). Tests start their own redis-server on a free port.
.PHONY: setup-redis

setup-redis: ## Install redis-server where missing (Debian package)
	@command -v redis-server >/dev/null || { apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }; }
	@redis-server --version | cut -d' ' -f1-3
