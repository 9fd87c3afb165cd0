// Package batch will send one template to many recipients: rows → render →
// spool → send, with workers, retries, a journal and a report.
//
// The foundation lives in subpackages, each with one job:
//
//   - [github.com/mailscript/mailscript/batch/data] streams rows from CSV,
//     JSON Lines, a JSON array or a YAML list, never holding the file in memory;
//   - [github.com/mailscript/mailscript/batch/filter] parses and evaluates the
//     --filter expression language;
//   - [github.com/mailscript/mailscript/batch/selection] applies --filter,
//     --rows, --shard and --limit to a stream of rows;
//   - [github.com/mailscript/mailscript/batch/journal] is the append-only,
//     fsync'd record of every state change, replayed on --resume;
//   - [github.com/mailscript/mailscript/batch/report] writes the per-row
//     report (--report) that doubles as input for a retry batch.
package batch
