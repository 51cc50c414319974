package server

// chunkSender sends what is written to it in messages of a fixed size,
// through send, which must be done with its bytes when it returns (a gRPC
// Send has marshalled the message by then).
type chunkSender struct {
	send func([]byte) error
	buf  []byte
}

func newChunkSender(size int, send func([]byte) error) *chunkSender {
	return &chunkSender{send: send, buf: make([]byte, 0, size)}
}

func (w *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends the buffered bytes, if any.
func (w *chunkSender) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}
