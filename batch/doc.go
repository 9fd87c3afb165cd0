// Package batch sends one template to many recipients: rows → render →
// spool → send, with workers, retries, a journal and a report.
//
// Validate renders and checks every row (the check pass before sending, and
// the dry run, which writes each message as an .eml file); for sending it
// writes every message with its envelope into one append-only Spool file
// (an index of 16 bytes per row stays in memory), so that each row is
// expanded once, and journals each row so spooled as "rendered". Run sends, from that Spool or (streaming) with render
// workers that spool each row's message (in memory up to 64 KiB, a temporary
// file beyond); a bounded number of rows in flight; Config.Connections senders
// keep their connections open and send groups with
// transport.Client.SendMany (RFC 2920 pipelining), the journal gets
// "sending" for a group and one fsync before its first final dot, overlapping
// the previous group's sending (RFC 1047
// "uncertain" rows are what a crash can leave), temporary failures are
// retried with exponential backoff and jitter, 421 and 451 4.7.x slow the
// batch down, and 535 stops it. A message accepted for some recipients and
// refused with a 4xx for others is retried to those only (the same bytes,
// RCPT limited to them; the journal's "deferred" record lists them, so that
// --resume goes on with them only). A message refused for some recipients
// for good (5xx, or 4xx past the retries) is "partial": journaled and
// reported with the refused recipients, and a retry batch whose data is the
// report sends it to those only. docs/batch.md describes the command.
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
