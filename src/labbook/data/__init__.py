"""What a run can log, independent of where it goes: value checks and flattening
(``values``, on ``log()``'s hot path) and the media objects (``media``: Image, Table, Histogram,
Plot) with their stored forms.

Below the SDK, the server and the read API, because each of them reads these forms: ``log()``
writes them, an artifact's ``add(obj)`` stores them and its ``get(name)`` rebuilds them, whether
the artifact came from a run or from ``labbook.Api()``. Nothing is imported here: ``import
labbook.data.values`` must not pay for numpy.
"""
