import Synchronization

/// The service's clock: wall time in milliseconds, and strictly increasing nanosecond sequence numbers that order
/// the versions of a key written by this process.
public final class SequenceClock: Sendable {
    private let nowNanos: @Sendable () -> UInt64
    private let last = Mutex<UInt64>(0)

    /// A clock over `nowNanos` (injected in tests for determinism).
    public init(nowNanos: @escaping @Sendable () -> UInt64) {
        self.nowNanos = nowNanos
    }

    /// The real-time clock.
    public static func system() -> SequenceClock {
        SequenceClock {
            var spec = timespec()
            clock_gettime(CLOCK_REALTIME, &spec)
            return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
        }
    }

    /// Milliseconds since 1970.
    public func nowMillis() -> Int64 { Int64(nowNanos() / 1_000_000) }

    /// Seconds since 1970.
    public func nowSeconds() -> Int64 { Int64(nowNanos() / 1_000_000_000) }

    /// A sequence number greater than every one this clock returned before.
    public func nextSequence() -> UInt64 {
        let now = nowNanos()
        return last.withLock { last in
            last = max(now, last + 1)
            return last
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
