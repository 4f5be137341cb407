package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The sign-test interval for the median of 30 values spans the 10th to the
// 21st of them (P(Binomial(30, ½) ≤ 9) = 0.0214, ≤ 10 = 0.0494; the same
// ranks as the table of W. J. Conover, Practical Nonparametric Statistics,
// 3rd ed., Table A3), and of 10 values the 2nd to the 9th.
func TestMedianCI(t *testing.T) {
	for _, tc := range []struct{ n, lo, hi int }{{30, 10, 21}, {10, 2, 9}, {5, 1, 5}} {
		values := make([]float64, tc.n)
		for i := range values {
			values[i] = float64(i + 1) // rank i+1
		}
		lo, hi := medianCI(values)
		assert.Equal(t, float64(tc.lo), lo, "n=%d", tc.n)
		assert.Equal(t, float64(tc.hi), hi, "n=%d", tc.n)
	}
}
