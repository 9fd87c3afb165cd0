// Package journal keeps the record of a batch: an append-only file of JSON
// Lines, one record per state change of a row, forced to disk (fsync) before
// the sender goes on, so that a batch killed at any point can be resumed
// without losing or — beyond the rows marked uncertain — duplicating a
// message.
//
// The first line is a [Header]: the journal version, a run id, and the paths
// and SHA-256 digests of the template and the data file. Every other line is a
// [Record] of one row: rendered → sending → sent, deferred, failed or
// uncertain (or skipped). A "sent" record with [Record.Refused] is a message
// the server accepted for some of its recipients only. "rendered" records are
// appended by the check pass without an fsync of their own: they become
// durable with the next Flush.
//
// # Durability and group commit
//
// [Journal.Append] encodes a record into memory; [Journal.Flush] writes what
// was appended and calls fsync once, however many records (and however many
// goroutines) are waiting: group commit. [Journal.Commit] is Append then
// Flush. The protocol for a message is:
//
//  1. Append "sending" (with its Message-ID) and Flush — the record is durable
//     before the message's final "." is written;
//  2. send the final "." and read the reply;
//  3. Append "sent" (or "failed", "deferred"), Flush at the latest before the
//     next step that depends on it. Sending workers can share one Flush per
//     round of pipelined messages.
//
// A row whose last durable record is "sending" may or may not have been
// accepted by the server (RFC 1047): on replay it is [Uncertain] — [Open]
// appends an "uncertain" record saying so ([FoundAtResume]) — and its
// Message-ID is kept so that a re-send carries the same one and the
// duplicate can be recognised.
//
// # Resume
//
// [Open] replays a journal into a compact table — two bytes per row, a bit
// per row for the partly sent ones, plus a small map for the rows in flight —
// so a journal of a million rows needs a few MiB. With
// [OpenOptions.Positions] it also keeps where each row's last record lies (4
// bytes per row), so that [Journal.LastRecord] reads back the reply of a row
// an earlier run finished, for a report. A last line torn by a crash is ignored with a warning (and cut off
// before new records are appended); a bad line elsewhere is a
// [*CorruptError]. When the template or the data changed since the journal was
// started, Open fails with a [*MismatchError] unless [OpenOptions.Force] is
// set. A journal is locked while open, so two processes cannot append to it.
package journal
