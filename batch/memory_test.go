package batch_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"
)

const (
	memRows  = 1_000_000
	memLimit = 100 << 20
)

// heapPeak samples the live heap until stopped and returns its maximum.
type heapPeak struct {
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.peak.Load() {
				h.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak.Load()
}

// writeCSV writes a data file of n rows and 5 columns.
func writeCSV(t testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "email,name,team,city,score")
	teams := []string{"ops", "dev", "sales", "support"}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "user%d@example.org,User %d,%s,City %d,%d\n", i, i, teams[i%4], i%1000, i%100)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestMemoryMillionRows streams a 1,000,000-row CSV through the data source,
// the filter and a shard, then replays a journal of 1,000,000 rows, and
// checks that the heap stays under 100 MiB throughout.
func TestMemoryMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 1,000,000-row memory test")
	}
	if raceEnabled {
		t.Skip("the race detector changes memory use and is 10× slower")
	}
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "rows.csv")
	writeCSV(t, csvPath, memRows)

	// 1. Source → filter → shard.
	h := startHeapPeak()
	start := time.Now()
	r, err := data.Open(csvPath, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expr, err := filter.Parse(`team in ["ops", "dev"] && score >= 50`)
	if err != nil {
		t.Fatal(err)
	}
	st := selection.NewStream(r, r.Name(), selection.New(selection.Options{Filter: expr, Shard: selection.Shard{K: 2, N: 4}}))
	selected := 0
	for {
		_, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		selected++
	}
	r.Close()
	elapsed := time.Since(start)
	peak := h.Stop()
	t.Logf("source+filter+shard: %d rows in %v (%.0f rows/s), %d selected, peak heap %.1f MiB",
		memRows, elapsed.Round(time.Millisecond), memRows/elapsed.Seconds(), selected, float64(peak)/(1<<20))
	if peak > memLimit {
		t.Errorf("peak heap %d MiB > 100 MiB", peak>>20)
	}
	// A quarter of the rows pass the filter, a quarter of those the shard.
	if selected < memRows/16*9/10 || selected > memRows/16*11/10 {
		t.Errorf("selected %d rows", selected)
	}

	// 2. A journal of a million rows: sending + sent for most, some left
	// uncertain or deferred with their Message-IDs.
	jpath := filepath.Join(dir, "rows.journal")
	j, err := journal.Create(jpath, journal.Header{Template: "t.eml", Data: csvPath}, journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for row := 1; row <= memRows; row++ {
		id := fmt.Sprintf("<%d.r1@example.org>", row)
		j.Append(journal.Record{Row: row, Key: fmt.Sprintf("user%d@example.org", row), State: journal.Sending, MessageID: id, Attempt: 1})
		switch {
		case row%20 == 0: // uncertain: no reply recorded
		case row%20 == 1:
			j.Append(journal.Record{Row: row, State: journal.Deferred, Attempt: 1, Code: 451, Enhanced: "4.7.1", Reply: "try again later"})
		default:
			j.Append(journal.Record{Row: row, State: journal.Sent, Attempt: 1, Code: 250, Reply: "Ok: queued as ABC", QueueID: "ABC"})
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = nil
	fi, _ := os.Stat(jpath)

	h = startHeapPeak()
	start = time.Now()
	j, err = journal.Open(jpath, journal.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	elapsed = time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak = h.Stop()
	c := j.Counts()
	t.Logf("journal replay: %d records (%.0f MiB) in %v (%.0f records/s), peak heap %.1f MiB, retained %.1f MiB",
		2*memRows-memRows/20, float64(fi.Size())/(1<<20), elapsed.Round(time.Millisecond),
		float64(2*memRows-memRows/20)/elapsed.Seconds(), float64(peak)/(1<<20), float64(ms.HeapAlloc)/(1<<20))
	if peak > memLimit {
		t.Errorf("peak heap %d MiB > 100 MiB", peak>>20)
	}
	if c[journal.Uncertain] != memRows/20 || c[journal.Deferred] != memRows/20 || c.Total() != memRows {
		t.Errorf("counts %v", c)
	}
	if got := j.MessageID(40); got != "<40.r1@example.org>" {
		t.Errorf("MessageID(40) = %q", got)
	}
	runtime.KeepAlive(j)
	j.Close()
}
