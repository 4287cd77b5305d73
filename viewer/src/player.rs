//! The replay clock: pure, driven by `Tick(dt)`; no timers, no terminal.
//!
//! Time is measured in recorded microseconds. Each tick adds `dt * speed` to a carry; the player
//! steps while the carry covers the (idle-capped) recorded gap to the next event, like
//! asciinema's `--speed` and `--idle-time-limit`.

use std::time::Duration;

/// Slowest and fastest playback speed.
pub const MIN_SPEED: f64 = 0.25;
pub const MAX_SPEED: f64 = 16.0;
/// Default cap on a recorded pause, before speed applies.
pub const DEFAULT_IDLE_CAP: Duration = Duration::from_secs(2);
/// Bound on steps per tick, so one tick never stalls the UI.
const MAX_STEPS_PER_TICK: usize = 4096;

/// Play/pause state, speed and the carried time.
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    pub playing: bool,
    pub speed: f64,
    pub idle_cap: Duration,
    carry_us: f64,
}

impl Default for Player {
    fn default() -> Self {
        Player::new(1.0)
    }
}

impl Player {
    pub fn new(speed: f64) -> Self {
        Player {
            playing: false,
            speed: clamp_speed(speed),
            idle_cap: DEFAULT_IDLE_CAP,
            carry_us: 0.0,
        }
    }

    pub fn toggle(&mut self) {
        self.playing = !self.playing;
        self.carry_us = 0.0;
    }

    pub fn pause(&mut self) {
        self.playing = false;
        self.carry_us = 0.0;
    }

    /// Doubles the speed (up to 16x).
    pub fn faster(&mut self) {
        self.speed = clamp_speed(self.speed * 2.0);
    }

    /// Halves the speed (down to 0.25x).
    pub fn slower(&mut self) {
        self.speed = clamp_speed(self.speed / 2.0);
    }

    /// Resets the carried time (after a manual move).
    pub fn reset_carry(&mut self) {
        self.carry_us = 0.0;
    }

    /// Advances the clock by `dt` and returns how many events to step. `gap_after(k)` gives the
    /// recorded gap (µs) from the k-th next event to the one after it (k = 0: from the current
    /// event to the next), or `None` at the end, which pauses.
    pub fn tick(&mut self, dt: Duration, mut gap_after: impl FnMut(usize) -> Option<u64>) -> usize {
        if !self.playing {
            return 0;
        }
        self.carry_us += dt.as_secs_f64() * 1e6 * self.speed;
        let cap = self.idle_cap.as_micros() as u64;
        let mut steps = 0;
        while steps < MAX_STEPS_PER_TICK {
            let Some(gap) = gap_after(steps) else {
                self.pause();
                break;
            };
            let gap = gap.min(cap) as f64;
            if self.carry_us < gap {
                break;
            }
            self.carry_us -= gap;
            steps += 1;
        }
        steps
    }
}

fn clamp_speed(s: f64) -> f64 {
    if s.is_finite() {
        s.clamp(MIN_SPEED, MAX_SPEED)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn paused_player_never_steps() {
        let mut p = Player::new(1.0);
        assert_eq!(p.tick(ms(10_000), |_| Some(1)), 0);
    }

    #[test]
    fn steps_at_recorded_pace() {
        let mut p = Player::new(1.0);
        p.toggle();
        // Events 100 ms apart.
        assert_eq!(p.tick(ms(50), |_| Some(100_000)), 0);
        assert_eq!(p.tick(ms(50), |_| Some(100_000)), 1);
        assert_eq!(p.tick(ms(250), |_| Some(100_000)), 2);
    }

    #[test]
    fn speed_scales_and_is_clamped() {
        let mut p = Player::new(1.0);
        p.toggle();
        for _ in 0..10 {
            p.faster();
        }
        assert_eq!(p.speed, 16.0);
        assert_eq!(p.tick(ms(100), |_| Some(100_000)), 16);
        for _ in 0..10 {
            p.slower();
        }
        assert_eq!(p.speed, 0.25);
        assert_eq!(p.tick(ms(399), |_| Some(100_000)), 0);
        assert_eq!(p.tick(ms(1), |_| Some(100_000)), 1);
        assert_eq!(Player::new(100.0).speed, 16.0);
        assert_eq!(Player::new(f64::NAN).speed, 1.0);
    }

    #[test]
    fn idle_time_is_capped() {
        let mut p = Player::new(1.0);
        p.toggle();
        // A one-hour pause plays as two seconds.
        assert_eq!(p.tick(ms(1_999), |_| Some(3_600_000_000)), 0);
        assert_eq!(p.tick(ms(1), |_| Some(3_600_000_000)), 1);
    }

    #[test]
    fn end_of_log_pauses() {
        let mut p = Player::new(1.0);
        p.toggle();
        let gaps = [10u64, 10];
        assert_eq!(p.tick(ms(1_000), |k| gaps.get(k).copied()), 2);
        assert!(!p.playing);
    }
}
