"""Automations: events derived from the store's records, and the actions they trigger.

* :mod:`.events`: the events (``version.created``, ``alias.moved``, ``run.finished``,
  ``run.failed``, ``run.crashed``, ``alert``), each with a stable id, and ``--on`` triggers;
* :mod:`.records`: automations and their deliveries as records under ``automations/``;
* :mod:`.webhook`: the signed POST and the limits on what a target may do;
* :mod:`.follow`: following the journal from a cursor;
* :mod:`.deliver`: the deliverer (at-least-once delivery) and the command action;
* :mod:`.watch`: ``art watch``, a command run on each matching event.

This package reads the store, the artifacts' rules and the index; it imports nothing above.
"""
