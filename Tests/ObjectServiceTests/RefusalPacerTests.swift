@testable import ObjectService
import Synchronization
import XCTest

/// Refusals are answered at once within a key's burst; past it, each waits for the refill, per key, up to a bound.
final class RefusalPacerTests: XCTestCase {
    final class Clock: Sendable {
        let millis = Mutex<Int64>(1_000_000)
        func advance(_ by: Int64) { millis.withLock { $0 += by } }
    }

    func testBurstThenRefillRatePerKey() {
        let clock = Clock()
        let pacer = RefusalPacer(burst: 3, ratePerSecond: 10, delayMaxMillis: 500, now: { clock.millis.withLock { $0 } })
        XCTAssertEqual((0..<3).map { _ in pacer.refusalDelayMillis("QKA") }, [0, 0, 0])
        // Past the burst: one token short is a tenth of a second at ten a second, two short twice that.
        XCTAssertEqual(pacer.refusalDelayMillis("QKA"), 100)
        XCTAssertEqual(pacer.refusalDelayMillis("QKA"), 200)
        // Another key has its own bucket.
        XCTAssertEqual(pacer.refusalDelayMillis("QKB"), 0)
        // Time refills: a second later the key is within its burst again.
        clock.advance(1000)
        XCTAssertEqual(pacer.refusalDelayMillis("QKA"), 0)
        // The wait is bounded.
        for _ in 0..<20 { _ = pacer.refusalDelayMillis("QKC") }
        XCTAssertEqual(pacer.refusalDelayMillis("QKC"), 500)
    }
}
