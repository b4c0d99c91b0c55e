"""A run's stop reaches the requests it has not sent yet: their check raises, a retry's wait ends at once, and a
slot given back unsent leaves nothing for the automatic concurrency to read."""
import threading

import pytest
from openai_compatible import cancel
from openai_compatible.cancel import RunStoppedError
from openai_compatible.concurrency import ConcurrencyLimiter


def test_outside_a_run_nothing_is_checked():
    cancel.check()
    cancel.sleep(0)


def test_a_stopped_run_stops_its_requests_and_only_in_its_own_scope():
    stop = threading.Event()
    with cancel.run_scope(stop):
        cancel.check()  # running: the request goes
        stop.set()
        with pytest.raises(RunStoppedError) as raised:
            cancel.check()
        assert not raised.value.retryable and raised.value.kind == "stopped"
        with pytest.raises(RunStoppedError):
            cancel.sleep(3600)  # a retry's backoff ends at once (else this test never ends)
    cancel.check()  # another run's stop does not reach a call outside it


def test_a_request_stopped_before_it_was_sent_gives_its_slot_back_unread():
    limiter = ConcurrencyLimiter(0)
    with pytest.raises(RunStoppedError):
        with limiter.attempt():
            raise RunStoppedError("not sent")
    assert limiter.inflight == 0 and limiter._sending == 0
    assert not limiter.controller._cohorts and limiter.controller.refusals == 0  # no send, no outcome
    with limiter.attempt() as sending:  # the slot is free again
        sending()
    assert limiter.inflight == 0 and limiter.controller.samples == 1
