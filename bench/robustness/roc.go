package robustness

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/mediamatch/mediamatch/match"
)

// Curve is recall against false-match rate as the operating point moves:
// one point per budget.
type Curve struct {
	// Name is a method (its evidence probability alone) or "combined" (the
	// score the decision uses).
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is one operating point of a curve.
type Point struct {
	Budget float64 `json:"budget"`
	// FalseMatchRate is the share of the negatives' pairs at or under the
	// budget; Recall the share of the re-edits.
	FalseMatchRate float64 `json:"false_match_rate"`
	Recall         float64 `json:"recall"`
}

// rocMethods are the methods drawn besides the combined score, those of
// them the default rules seek.
var rocMethods = []match.Method{match.MethodPDQ, match.MethodRegion, match.MethodPHash, match.MethodDHash, match.MethodKeypoints, match.MethodPixels}

// ROC computes the curves of the negatives' false-match rate against the
// recall of rob's re-edits (the transforms of group, or all when group is
// empty), per method and combined, over budgets from 1e-12 to 1.
func ROC(neg *NegativesReport, rob *Report, group Group) []Curve {
	var budgets []float64
	for e := -12.0; e <= 0.001; e += 0.25 {
		budgets = append(budgets, math.Pow(10, e))
	}
	negScores := map[string][]float64{} // by curve: each found pair's value
	for _, p := range neg.Found {
		negScores["combined"] = append(negScores["combined"], p.Score)
		for _, e := range p.Evidence {
			negScores[string(e.Method)] = append(negScores[string(e.Method)], e.Probability)
		}
	}
	posScores := map[string][]float64{}
	variants := 0
	for _, t := range rob.Transforms {
		if group != "" && t.Group != group {
			continue
		}
		variants += len(t.Scores)
		posScores["combined"] = append(posScores["combined"], t.Scores...)
		for m, ps := range t.MethodProbabilities {
			posScores[m] = append(posScores[m], ps...)
		}
	}
	names := []string{"combined"}
	rules := match.DefaultRules()
	for _, m := range rocMethods {
		if rules.Seeks(m) {
			names = append(names, string(m))
		}
	}
	var out []Curve
	for _, name := range names {
		ns, ps := slices.Sorted(slices.Values(negScores[name])), slices.Sorted(slices.Values(posScores[name]))
		c := Curve{Name: name}
		for _, b := range budgets {
			fm := countAtMost(ns, b)
			rec := countAtMost(ps, b)
			pt := Point{Budget: b}
			if neg.Pairs > 0 {
				pt.FalseMatchRate = float64(fm) / float64(neg.Pairs)
			}
			if variants > 0 {
				pt.Recall = float64(rec) / float64(variants)
			}
			c.Points = append(c.Points, pt)
		}
		out = append(out, c)
	}
	return out
}

// countAtMost counts the sorted values at most v.
func countAtMost(sorted []float64, v float64) int {
	n, _ := slices.BinarySearchFunc(sorted, v, func(x, v float64) int {
		if x <= v {
			return -1
		}
		return 1
	})
	return n
}

// PlotROC draws curves as a PNG at path: recall against the false-match
// rate per comparison on a log axis (a rate of 0 is drawn at half of one
// pair, floor), with vertical marks at the given rates (for example plain
// PDQ's on the same negatives).
func PlotROC(path, title string, curves []Curve, floor float64, marks map[string]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "false matches per comparison (negatives)"
	p.Y.Label.Text = "recall (re-edits)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: 1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	var args []any
	for _, c := range curves {
		xys := make(plotter.XYs, 0, len(c.Points))
		for _, pt := range c.Points {
			xys = append(xys, plotter.XY{X: max(pt.FalseMatchRate, floor), Y: pt.Recall})
		}
		args = append(args, c.Name, xys)
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return fmt.Errorf("plotting: %w", err)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range marks {
			if !yield(k) {
				return
			}
		}
	}) {
		x := max(marks[name], floor)
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}})
		if err != nil {
			return err
		}
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(name, l)
	}
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}
