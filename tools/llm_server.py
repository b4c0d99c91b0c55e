"""Serve a GGUF model with llama.cpp's HTTP server (the prebuilt ``xllamacpp`` wheel).

Usage: ``python tools/llm_server.py [--model PATH] [--port 0] [--alias smollm2] [--api-key KEY]...``

Prints exactly one line ``READY http://127.0.0.1:<port>`` on stdout once the server listens, then
serves until SIGTERM or SIGINT and exits with status 0. llama.cpp's own log goes to stderr.
The OpenAI API is under ``/v1`` (``/health`` is unauthenticated).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

DEFAULT_MODEL = os.path.join(".llm", "models", "smollm2-135m-instruct-q4_1.gguf")
POOLING = ("mean", "cls", "last", "none")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="path of the .gguf file")
    parser.add_argument("--host", default="127.0.0.1", help="listening address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listening port; 0 picks a free one")
    parser.add_argument("--alias", default="smollm2", help="model id served by the API")
    parser.add_argument("--api-key", action="append", default=[], dest="api_keys",
                        help="accepted API key (repeatable); none means no authentication")
    parser.add_argument("--n-ctx", type=int, default=4096,
                        help="context size: shared by the slots with --kv-unified, else split between them")
    parser.add_argument("--parallel", type=int, default=2, help="parallel slots")
    # llama.cpp's own default (-1) lets a request that names no output limit run until the context is full: a
    # small model that rambles then takes minutes on a busy CPU, and a test's outcome would hang on its mood
    parser.add_argument("--n-predict", type=int, default=256,
                        help="the most tokens generated for a request that sets no max_tokens (-1: no limit)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (generation and batch)")
    parser.add_argument("--embedding", action=argparse.BooleanOptionalAction, default=True,
                        help="serve /v1/embeddings (default on)")
    parser.add_argument("--pooling", choices=POOLING, default="mean", help="embedding pooling")
    parser.add_argument("--kv-unified", action=argparse.BooleanOptionalAction, default=True,
                        help="one KV cache shared by the slots (default on; off, inputs embedded in the "
                             "same batch get vectors different from the same inputs embedded alone)")
    parser.add_argument("--chat-template", default="", help="built-in chat template name")
    parser.add_argument("--no-jinja", action="store_true", help="use the built-in (non-jinja) templates")
    parser.add_argument("--verbosity", type=int, default=None, help="llama.cpp log verbosity")
    return parser.parse_args(argv)


def build_params(args: argparse.Namespace) -> Any:
    """Translate the arguments into an ``xllamacpp.CommonParams``."""
    import xllamacpp

    if not os.path.isfile(args.model):
        raise SystemExit(f"llm_server: model file not found: {args.model} (run `make model`)")
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.model_alias = {args.alias}
    params.api_keys = list(args.api_keys)
    params.n_ctx = args.n_ctx
    params.n_parallel = args.parallel
    params.n_predict = args.n_predict
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.ui = False
    params.embedding = args.embedding
    params.kv_unified = args.kv_unified
    pooling = getattr(xllamacpp.llama_pooling_type, f"LLAMA_POOLING_TYPE_{args.pooling.upper()}")
    params.pooling_type = pooling
    if args.chat_template:
        params.chat_template = args.chat_template
    if args.no_jinja:
        params.use_jinja = False
    if args.verbosity is not None:
        params.verbosity = args.verbosity
    return params


def main(argv: list[str] | None = None) -> int:
    """Start the server, announce it, and serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    params = build_params(args)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    import xllamacpp

    server = xllamacpp.Server(params)  # returns once the port listens
    address = str(server.listening_address).rstrip("/")
    if "://" not in address:
        address = "http://" + address
    sys.stdout.write(f"READY {address}\n")
    sys.stdout.flush()
    while not stop.wait(0.5):  # a timeout keeps the main thread responsive to signals
        pass
    del server  # the destructor stops the HTTP server and the inference loop
    return 0


if __name__ == "__main__":
    sys.exit(main())
