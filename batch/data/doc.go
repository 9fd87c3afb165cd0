// Package data streams the rows of a batch's data file.
//
// A [Reader] yields one [Row] at a time from CSV (RFC 4180 with a header row),
// JSON Lines, a JSON array of objects or a YAML list of maps (or a stream of
// YAML documents separated by "---"). Only the current row is held in memory,
// so a file of millions of rows is read in constant space.
//
// The format comes from [Options.Format], else from the file name's extension
// (.csv .tsv .jsonl .ndjson .json .yaml .yml), else — for standard input,
// named "-" — from the first non-space byte: '[' is a JSON array, '{' JSON
// Lines, anything else CSV.
//
// Values have one shape whatever the format, the shape the template package
// expects: CSV fields are strings; JSON and YAML values keep their type, with
// maps as map[string]any, lists as []any, integers as int64 and other numbers
// as float64.
//
// Every error about the content of the file is an [*Error] naming the file,
// the row number and the line. Errors that concern a single row (a CSV row with
// the wrong number of fields, a JSON line that is not an object) leave the
// Reader usable: the next call to [Reader.Next] continues with the next row.
package data
