package capture

import (
	"context"
	"net"
	"sync"
	"time"
)

// trackedListener registers every accepted connection with the server so
// that Close can cut them and wait for their sessions.
type trackedListener struct {
	net.Listener
	srv *Server
}

// Accept implements net.Listener.
func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, srv: l.srv, remote: c.RemoteAddr().String(), timeout: l.srv.cfg.ReadTimeout}
	if !l.srv.addConn(tc) {
		c.Close()
		return nil, net.ErrClosed
	}
	l.srv.logf("connect %s", tc.remote)
	return tc, nil
}

// trackedConn is an accepted connection; closing it unregisters it.
//
// It also renews the read deadline before every read, which turns
// Config.ReadTimeout into an idle timeout everywhere: go-smtp sets the
// deadline once per command line, so without this the whole DATA transfer
// (its reader fills 32 KiB before returning) would have to fit in one
// ReadTimeout.
type trackedConn struct {
	net.Conn
	srv     *Server
	remote  string
	timeout time.Duration
	once    sync.Once
}

// Read implements net.Conn.
func (c *trackedConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.srv.logf("disconnect %s", c.remote)
		c.srv.removeConn(c)
	})
	return err
}

// addConn registers c; it reports false once the server is closing.
func (s *Server) addConn(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.notifyLocked()
}

// beginData registers a delivery in progress; it reports false once the
// server is stopped, so that nothing is stored after Close returns.
func (s *Server) beginData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.inData++
	return true
}

func (s *Server) endData() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inData--
	s.notifyLocked()
}

// notifyLocked wakes up waitIdle. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitIdle waits until no connection is open and no delivery is in
// progress, or until ctx is done.
func (s *Server) waitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := len(s.conns) == 0 && s.inData == 0
		ch := s.changed
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
