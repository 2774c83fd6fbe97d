import Synchronization

/// Paces refused cross-border requests per access key, so a flood of them costs the gateway little: each key has a
/// bucket of `burst` refusals refilled at `ratePerSecond`; a refusal past an empty bucket is answered only after the
/// wait its deficit calls for (at most `delayMaxMillis`). The wait is a timer, not work, and a client waiting for its
/// answer sends nothing more on that connection, so a flood settles at the refill rate per key whatever its
/// concurrency. Occasional refusals are answered at once; granted reads are never paced.
final class RefusalPacer: Sendable {
    let burst: Double
    let ratePerSecond: Double
    let delayMaxMillis: Int64
    let now: @Sendable () -> Int64

    struct Bucket {
        var tokens: Double
        var updatedMillis: Int64
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// Buckets kept before the full ones are dropped (a full bucket is what a missing one means).
    static let bucketsMax = 10_000

    init(burst: Double = 100, ratePerSecond: Double = 50, delayMaxMillis: Int64 = 2000,
         now: @escaping @Sendable () -> Int64) {
        self.burst = burst
        self.ratePerSecond = ratePerSecond
        self.delayMaxMillis = delayMaxMillis
        self.now = now
    }

    /// Counts one refusal of `accessKey` and returns how long to wait before answering it (0 within the burst).
    func refusalDelayMillis(_ accessKey: String) -> Int64 {
        let time = now()
        return buckets.withLock { buckets in
            if buckets.count > Self.bucketsMax {
                buckets = buckets.filter { refilled($0.value, at: time) < burst }
            }
            var bucket = buckets[accessKey] ?? Bucket(tokens: burst, updatedMillis: time)
            bucket.tokens = refilled(bucket, at: time) - 1
            bucket.updatedMillis = time
            buckets[accessKey] = bucket
            guard bucket.tokens < 0 else { return 0 }
            return min(delayMaxMillis, Int64(-bucket.tokens / ratePerSecond * 1000))
        }
    }

    /// Waits out the delay of one refusal of `accessKey`.
    func pace(_ accessKey: String) async {
        let delay = refusalDelayMillis(accessKey)
        guard delay > 0 else { return }
        try? await Task.sleep(for: .milliseconds(delay))
    }

    private func refilled(_ bucket: Bucket, at time: Int64) -> Double {
        min(burst, bucket.tokens + Double(max(0, time - bucket.updatedMillis)) / 1000 * ratePerSecond)
    }
}
