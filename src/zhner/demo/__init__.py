"""Stand-ins that let the main job, the tests and the benchmarks run without people, kept out of the
stages so that no stage depends on them: `annotator` (an annotator account that applies gold spans
through Doccano's REST API, `zhner doccano annotate-gold`) and `tasks` (synthetic tasks with the
characters that break offset bookkeeping)."""
