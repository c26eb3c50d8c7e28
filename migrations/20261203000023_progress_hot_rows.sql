-- Progress reports rewrite two rows per report (`lesson_progress` and `progress_stream`). Keep
-- those rows small and their pages with room, so each write is a heap-only update:
--
-- * The remembered answers (for replays of a `seq`) were jsonb of ~250 bytes each; eight of
--   them pushed the stream's row past PostgreSQL's TOAST threshold, so every report compressed
--   and out-of-lined 2 KB. They become a fixed 45-byte binary record each (see
--   `training::progress::AnswerLog`); answers remembered before this migration are dropped,
--   so a replay of a report sent before the upgrade is applied as a late report (its spans
--   add nothing new, the position and clock do not move) instead of getting its old answer.
-- * A fill factor below 100 leaves room on each page for the next version of a row, so an
--   update touches no index (neither table's updates change an indexed column).
alter table progress_stream drop column answers;
alter table progress_stream add column answer_log bytea not null default '\x';
alter table progress_stream set (fillfactor = 70);
alter table lesson_progress set (fillfactor = 70);
