//! Tests of [`super`]: the maximum-likelihood attack on synthetic exits.

use super::*;

/// Exits of straight paths from `home` in evenly spread directions out of the disk of
/// radius `rho` around `c`, with headings along the paths.
fn exits_from(home: Point, c: Point, rho: f64, n: usize) -> Vec<End> {
    (0..n)
        .map(|i| {
            let th = (i as f64 + 0.5) / n as f64 * std::f64::consts::TAU;
            let h = (th.cos(), th.sin());
            let q = (home.0 - c.0, home.1 - c.1);
            let qh = q.0 * h.0 + q.1 * h.1;
            let t = -qh + (qh * qh - (q.0 * q.0 + q.1 * q.1) + rho * rho).sqrt();
            End {
                at: (home.0 + t * h.0, home.1 + t * h.1),
                heading: Some(h),
                activity: i,
                start: true,
            }
        })
        .collect()
}

#[test]
fn the_exit_density_integrates_to_one_and_leans_towards_the_point() {
    let n = 10_000;
    let total: f64 = (0..n)
        .map(|i| {
            exit_density(
                i as f64 / n as f64 * std::f64::consts::TAU,
                400.0,
                1.0,
                900.0,
            )
        })
        .sum::<f64>()
        * std::f64::consts::TAU
        / n as f64;
    assert!((total - 1.0).abs() < 1e-6, "{total}");
    assert!(
        exit_density(1.0, 400.0, 1.0, 900.0)
            > exit_density(1.0 + std::f64::consts::PI, 400.0, 1.0, 900.0)
    );
    assert!((exit_density(2.0, 0.0, 0.0, 900.0) - 1.0 / std::f64::consts::TAU).abs() < 1e-12);
}

#[test]
fn the_likelihood_recovers_a_known_home_from_its_exits() {
    let m = Mechanism {
        rho_m: 942.0,
        trim_m: 0.0,
        search_m: 742.0,
    };
    let (c, home) = ((1000.0, -500.0), (1300.0, -100.0));
    let ends = exits_from(home, c, m.rho_m, 60);
    let f = fit(&ends, &m).unwrap();
    assert!(
        (f.centre.0 - c.0).hypot(f.centre.1 - c.1) < 1.0,
        "{:?}",
        f.centre
    );
    let s = score_grid(&f, &m);
    // angles alone: within a few grid steps; headings alone: exact
    let w = |lambda, kappa, mu| Weights {
        lambda,
        kappa,
        mu,
        posterior_mean: false,
    };
    let a = s.best(&w(1.0, 0.0, 0.0)).unwrap();
    assert!((a.0 - home.0).hypot(a.1 - home.1) <= 80.0, "{a:?}");
    let h = s.best(&w(0.0, 1.0, 0.0)).unwrap();
    assert!((h.0 - home.0).hypot(h.1 - home.1) <= 15.0, "{h:?}");
    let l = s.best(&w(0.0, 0.0, 1.0)).unwrap();
    assert!((l.0 - home.0).hypot(l.1 - home.1) <= 15.0, "{l:?}");
    let pm = s.mean(&w(0.0, 0.0, 1.0)).unwrap();
    assert!((pm.0 - home.0).hypot(pm.1 - home.1) <= 15.0, "{pm:?}");
    // a second, smaller group of ends far away is left out
    let mut two = ends.clone();
    two.extend(exits_from((9000.0, 0.0), (9000.0, 100.0), m.rho_m, 10));
    assert_eq!(main_cluster(&two, m.link_m()), (0..60).collect::<Vec<_>>());
}
