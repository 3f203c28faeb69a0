"""The official Python client for Engram's HTTP API (`engram serve`).

    from engram_client import Engram
    engram = Engram()                      # ENGRAM_URL and ENGRAM_API_KEY from the environment
    memory_id = engram.remember("Checkout is slow", cause="DB pool exhausted",
                                outcome="raised the pool to 80", succeeded=True, namespace="acme/support")
    for hit in engram.recall("checkout latency again", k=3):
        print(hit.score, hit.content, "->", hit.outcome)
"""
from ._client import AsyncEngram, Engram, EngramError
from .models import Hit, Memory, Page, RememberResult, WorkingEntry

__all__ = ["Engram", "AsyncEngram", "EngramError", "Memory", "Hit", "Page", "RememberResult", "WorkingEntry"]
__version__ = "0.2.0"
