// Package selection chooses which rows of a batch's data are sent: --filter,
// --rows, --shard and --limit.
//
// The order is: rows are read from the data source, then each row must pass
// every test — --rows (by data row number), --filter (the expression) and
// --shard (by the hash of its key); --limit finally keeps the first N rows that
// passed. The first three are tests of one row alone, so their order does not
// change the result (the cheap ones run first); --limit counts only rows that
// passed them all, so "--shard 2/4 --limit 100" is 100 rows of shard 2.
//
// Row numbers are the data row numbers of [data.Row]; because they do not
// depend on the filter, "--rows 5-10" means the same rows with or without one.
//
// # Shards
//
// "--shard K/N" keeps a row when FNV-1a-64(key), xor-folded to 32 bits, mod N
// == K-1 ([Hash]). The key is the
// value of the --key column when given; by default the first of the columns
// "email", "to" and "address" (matched without regard to case) that the row
// has; else the row number. Text keys are trimmed and lower-cased before
// hashing (Ann@Example.org and ann@example.org are one recipient); a list
// (several recipients) is hashed as its elements joined with ",".
//
// Because a row's shard depends only on its key, the split is stable when rows
// are reordered, inserted or deleted: N machines or cron jobs running shards
// 1/N … N/N of one file — or of different versions of it — never send to the
// same key twice, and together cover every row. With the row-number fallback
// this holds only as long as rows keep their numbers.
package selection
