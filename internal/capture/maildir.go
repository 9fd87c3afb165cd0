package capture

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maildir stores messages in a Maildir (https://cr.yp.to/proto/maildir.html):
// each message is written to tmp/, synced, and renamed into new/.
type maildir struct {
	root string
	host string // the host part of file names, already escaped
	now  func() time.Time

	mu    sync.Mutex
	ready bool // tmp/, new/, cur/ exist
}

// seq numbers the deliveries of this process (the Q part of a Maildir name),
// shared by all servers so that two of them on one Maildir cannot collide.
var seq atomic.Uint64

func newMaildir(root string, now func() time.Time) *maildir {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	// The Maildir spec escapes the two characters that would break names.
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return &maildir{root: root, host: host, now: now}
}

// prepare creates tmp/, new/ and cur/ (mode 0700) the first time it is
// called successfully.
func (m *maildir) prepare() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready {
		return nil
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(m.root, sub), 0o700); err != nil {
			return err
		}
	}
	m.ready = true
	return nil
}

// newQueueID returns ten uppercase hex digits, the look of a Postfix queue ID.
func newQueueID() string {
	var b [5]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// name returns a unique Maildir file name for a message with the given
// queue ID: <unixtime>.M<usec>P<pid>Q<seq>R<queueid>.<host>.
func (m *maildir) name(queueID string) string {
	t := m.now()
	return fmt.Sprintf("%d.M%06dP%dQ%dR%s.%s",
		t.Unix(), t.Nanosecond()/1000, os.Getpid(), seq.Add(1), strings.ToLower(queueID), m.host)
}

// storeError is a failure to write the Maildir (as opposed to a failure to
// read the message from the client).
type storeError struct{ err error }

func (e *storeError) Error() string { return "capture: storing message: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// deliver writes header (the prepended lines) and then body into a new
// message and returns its path in new/ and the number of body bytes. It never
// holds the message in memory. On any error nothing is left behind: the tmp
// file is removed and new/ is untouched. Errors from body are returned as is;
// errors of the file system are wrapped in *storeError.
func (m *maildir) deliver(queueID string, header []byte, body io.Reader) (path string, n int64, err error) {
	if err := m.prepare(); err != nil {
		return "", 0, &storeError{err}
	}
	name := m.name(queueID)
	tmp := filepath.Join(m.root, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, &storeError{err}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	w := bufio.NewWriterSize(f, 64<<10)
	if _, err := w.Write(header); err != nil {
		return "", 0, &storeError{err}
	}
	// Copy by hand to tell read errors (the client's) from write errors (ours).
	buf := make([]byte, 32<<10)
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return "", n, &storeError{werr}
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", n, rerr
		}
	}
	if err := w.Flush(); err != nil {
		return "", n, &storeError{err}
	}
	if err := f.Sync(); err != nil {
		return "", n, &storeError{err}
	}
	if err := f.Close(); err != nil {
		return "", n, &storeError{err}
	}
	path = filepath.Join(m.root, "new", name)
	// Names are unique (time, pid, sequence and a random queue ID), so the
	// rename never replaces a message.
	if err := os.Rename(tmp, path); err != nil {
		return "", n, &storeError{err}
	}
	// Make the directory entry durable too.
	if d, err := os.Open(filepath.Join(m.root, "new")); err == nil {
		d.Sync()
		d.Close()
	}
	return path, n, nil
}
