"""Which contacts a process starts working on now: its room, each organisation's share, and
how much its event loop can take.

A process works up to ``max_in_flight`` contacts at once. Two things keep one organisation's
burst from slowing another's replies:

- **Its own share.** Each organisation may always work ``org_in_flight`` of its contacts,
  however full the process is, and waiting contacts start in turns across organisations.
- **The loop's pace.** A burst of GPT answers is CPU-bound: hundreds of contacts in hand make
  every step of every contact wait its turn on the event loop, so a quiet organisation's one
  message takes seconds. The loop's lateness is measured (``adapt``); while it is late and
  more than one organisation has contacts here, the contacts any one organisation may hold
  shrink (never below ``org_in_flight``), and they grow back while the loop keeps up (or one
  organisation is alone) and some organisation waits for them. The burst still goes as fast as
  the CPU allows.

>>> gate = Admission(max_in_flight=4, org_in_flight=1)
>>> for contact in (11, 12, 13, 14, 15):
...     gate.queue(contact, 1)                  # organisation 1's burst
>>> gate.take()                                 # 2 at first...
[(11, 1), (12, 1)]
>>> gate.adapt(lag=0.001); gate.take()          # ...more while the loop keeps up
[(13, 1), (14, 1)]
>>> gate.queue(21, 2)                           # organisation 2's one message: its own share
>>> gate.take()
[(21, 2)]
>>> gate.adapt(lag=0.2)                         # the loop is late: the burst holds fewer
>>> gate.org_limit, gate.room(1), gate.room(2)
(3, 0, 0)
>>> gate.finished(11); gate.finished(12); gate.take()  # 2 left of 1's 4; its limit is 3
[(15, 1)]
"""

from __future__ import annotations

from collections import Counter, deque

# The loop's lateness (seconds) above which the per-organisation limit shrinks, and below
# which it grows again.
LATE = 0.025
ON_TIME = 0.005


class Admission:
    def __init__(self, *, max_in_flight: int, org_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.org_in_flight = org_in_flight
        # Starts low and grows while the loop keeps up, so a burst arriving all at once does
        # not take the whole process before the loop's lateness is first seen.
        self.org_limit = min(max_in_flight, 2 * org_in_flight)
        # Contacts worked now, with their organisation once known (None: not claimed yet).
        self._running: dict[int, int | None] = {}
        self._per_org: Counter[int] = Counter()
        # Contacts waiting to start, per organisation (None: not known), in arrival order.
        self._ready: dict[int | None, deque[int]] = {}
        self._queued: set[int] = set()

    # --- what is here ------------------------------------------------------------------------

    def __contains__(self, contact_id: int) -> bool:
        return contact_id in self._running

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._queued)

    def room(self, organization_id: int | None = None) -> int:
        """How many more contacts (of ``organization_id``) may be claimed now."""
        room = self.max_in_flight - len(self._running) - len(self._queued)
        if organization_id is not None:
            held = self._per_org[organization_id]
            room = max(min(room, self.org_limit - held), self.org_in_flight - held)
        return max(0, room)

    # --- changes -----------------------------------------------------------------------------

    def queue(self, contact_id: int, organization_id: int | None = None) -> None:
        """Start this contact when there is room (idempotent)."""
        if contact_id in self._queued or contact_id in self._running:
            return
        self._queued.add(contact_id)
        self._ready.setdefault(organization_id, deque()).append(contact_id)

    def take(self) -> list[tuple[int, int | None]]:
        """The waiting contacts to start now, one of each organisation in turn; each is counted
        as running from here on."""
        taken: list[tuple[int, int | None]] = []
        progressed = True
        while self._ready and progressed:
            progressed = False
            for org in list(self._ready):
                if not self._may_start(org):
                    continue
                waiting = self._ready[org]
                contact_id = waiting.popleft()
                if not waiting:
                    del self._ready[org]
                self._queued.discard(contact_id)
                progressed = True
                if contact_id in self._running:  # its webhook claimed it meanwhile
                    continue
                self.started(contact_id, org)
                taken.append((contact_id, org))
        return taken

    def started(self, contact_id: int, organization_id: int | None) -> None:
        """Counted as running (a contact claimed outside ``take``, by its webhook)."""
        if contact_id not in self._running:
            self._running[contact_id] = None
        if organization_id is not None:
            self.known(contact_id, organization_id)

    def known(self, contact_id: int, organization_id: int) -> None:
        """The organisation of a running contact, learnt from its claim."""
        if contact_id in self._running and self._running[contact_id] is None:
            self._running[contact_id] = organization_id
            self._per_org[organization_id] += 1

    def finished(self, contact_id: int) -> None:
        org = self._running.pop(contact_id, None)
        if org is not None:
            self._per_org[org] -= 1
            if not self._per_org[org]:
                del self._per_org[org]

    def adapt(self, lag: float) -> None:
        """The event loop ran ``lag`` seconds late: fewer contacts per organisation while it is
        late, more again once it keeps up."""
        shared = self._shared()
        if lag > LATE and shared:
            self.org_limit = max(self.org_in_flight, int(self.org_limit * 0.75))
        elif (lag < ON_TIME or not shared) and self._held_back():
            self.org_limit = min(self.max_in_flight, self.org_limit + self.org_limit // 4 + 2)

    def _shared(self) -> bool:
        """More than one organisation has contacts here: alone, a burst holds back no one."""
        orgs = set(self._per_org)
        orgs.update(org for org in self._ready if org is not None)
        return len(orgs) > 1

    def _held_back(self) -> bool:
        """Some organisation has contacts waiting only because of ``org_limit``."""
        return any(org is not None and self._per_org[org] >= self.org_limit for org in self._ready)

    def _may_start(self, org: int | None) -> bool:
        held = self._per_org[org] if org is not None else 0
        if org is not None and held < self.org_in_flight:
            return True
        if len(self._running) >= self.max_in_flight:
            return False
        return org is None or held < self.org_limit
