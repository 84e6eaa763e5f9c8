package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctdiag/ctdiag/report"
)

// Handler serves /metrics (Prometheus), /findings (the current report of a
// namespace, as report -o json writes it), /healthz and an index at /.
// At most Config.MaxScrapes requests per endpoint run at once; more are
// refused with 503, so a scrape storm costs little.
func (e *Exporter) Handler(version string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetrics(e, version),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{e.cfg.Logger},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: e.cfg.MaxScrapes,
		Timeout:             10 * time.Second,
	}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/findings", limit(e.cfg.MaxScrapes, http.HandlerFunc(e.serveFindings)))
	mux.Handle("/healthz", limit(e.cfg.MaxScrapes, http.HandlerFunc(e.serveHealth)))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>ctdiag exporter</title></head><body><h1>ctdiag exporter</h1>
<p><a href="/metrics">/metrics</a> · <a href="/findings">/findings</a> · <a href="/healthz">/healthz</a></p></body></html>
`)
	})
	return mux
}

// limit refuses requests beyond n at once with 503.
func limit(n int, h http.Handler) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			http.Error(w, fmt.Sprintf("limit of %d concurrent requests reached, try again later", n), http.StatusServiceUnavailable)
		}
	})
}

// serveFindings writes the last evaluation's report document of the
// namespace ?netns= names (of the only one watched without it).
func (e *Exporter) serveFindings(w http.ResponseWriter, r *http.Request) {
	list := *e.list.Load()
	want := r.URL.Query().Get("netns")
	var labels []string
	var found *watcher
	for _, wt := range list {
		labels = append(labels, wt.label)
		if wt.label == want || (want == "" && len(list) == 1) {
			found = wt
		}
	}
	sort.Strings(labels)
	switch {
	case found == nil && want == "":
		http.Error(w, fmt.Sprintf("%d network namespaces are watched: ask for one with /findings?netns=NAME (%s)", len(list), strings.Join(labels, ", ")), http.StatusBadRequest)
		return
	case found == nil:
		http.Error(w, fmt.Sprintf("network namespace %q is not watched (watched: %s)", want, strings.Join(labels, ", ")), http.StatusNotFound)
		return
	}
	s := found.snap.Load()
	if s.doc == nil {
		msg := "no evaluation yet: the first comes after the first read"
		if s.upErr != "" {
			msg = "the namespace cannot be read: " + s.upErr
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := report.WriteJSON(w, s.doc); err != nil {
		e.cfg.Logger.Debug("writing /findings", "err", err)
	}
}

// serveHealth says whether every namespace watched is read: 200 with one
// line per namespace, or 503 naming what fails (a namespace down, or reads
// older than three read intervals).
func (e *Exporter) serveHealth(w http.ResponseWriter, r *http.Request) {
	list := *e.list.Load()
	now := e.cfg.Now()
	stale := 3 * e.cfg.ReadInterval
	var lines []string
	healthy := len(list) > 0
	for _, wt := range list {
		s := wt.snap.Load()
		switch {
		case !s.up && s.upErr == "":
			lines = append(lines, fmt.Sprintf("%s: starting", s.label))
			if now.Sub(e.started) > stale {
				healthy = false
			}
		case !s.up:
			lines = append(lines, fmt.Sprintf("%s: down: %s", s.label, s.upErr))
			healthy = false
		case now.Sub(time.Unix(0, int64(s.lastRead*1e9))) > stale:
			lines = append(lines, fmt.Sprintf("%s: last read %s ago", s.label, now.Sub(time.Unix(0, int64(s.lastRead*1e9))).Round(time.Second)))
			healthy = false
		default:
			lines = append(lines, fmt.Sprintf("%s: ok, %d entries", s.label, s.count))
		}
	}
	if len(list) == 0 {
		lines = append(lines, "no network namespace watched yet")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// Serve serves Handler on ln until ctx ends.
func (e *Exporter) Serve(ctx context.Context, ln net.Listener, version string) error {
	srv := &http.Server{
		Handler:           e.Handler(version),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}

// slogPrinter lets promhttp log through the exporter's logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Error(fmt.Sprint(v...)) }
