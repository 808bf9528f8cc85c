"""The search: the ask/tell loop (``loop``), the sampler (``sampler``), where a study lives and
how a lost worker's trial is run again (``storage``, ``liveness``), what a resume must match
(``identity``), warm start, the confirm split (``confirm``), a shared study's workers
(``shared``), an output folder's record (``run_record``), and one machine's run of a study with
its report, or a finished folder read back (``run``).
"""
