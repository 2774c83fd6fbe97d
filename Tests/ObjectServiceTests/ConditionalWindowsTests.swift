@testable import ObjectService
import XCTest

/// A conditional write conflicts with a plain write or delete of its key that its check may have missed: one in
/// flight when its window opened, or one begun while the window was open; never with one that ended before, nor
/// with another key (keys compared as bytes).
final class ConditionalWindowsTests: XCTestCase {
    let key = ConditionalWindows.key("b", "k")

    func testNoPlainWriteNoConflict() {
        let windows = ConditionalWindows()
        windows.openWindow(key)
        XCTAssertFalse(windows.closeWindow(key))
    }

    func testAPlainWriteBegunInsideTheWindowConflicts() {
        let windows = ConditionalWindows()
        windows.openWindow(key)
        windows.beginPlainWrite(key)
        windows.endPlainWrite(key)
        XCTAssertTrue(windows.closeWindow(key))
    }

    func testAPlainWriteInFlightWhenTheWindowOpensConflicts() {
        let windows = ConditionalWindows()
        windows.beginPlainWrite(key)
        windows.openWindow(key)
        windows.endPlainWrite(key)
        XCTAssertTrue(windows.closeWindow(key))
    }

    func testAPlainWriteThatEndedBeforeDoesNotConflict() {
        let windows = ConditionalWindows()
        windows.beginPlainWrite(key)
        windows.beginPlainWrite(key)
        windows.endPlainWrite(key)
        windows.endPlainWrite(key)
        windows.openWindow(key)
        XCTAssertFalse(windows.closeWindow(key))
        // The window is gone: a later plain write marks nothing, and the next window starts clean.
        windows.beginPlainWrite(key)
        windows.endPlainWrite(key)
        windows.openWindow(key)
        XCTAssertFalse(windows.closeWindow(key))
    }

    func testOtherKeysAndCanonicallyEquivalentKeysDoNotConflict() {
        let windows = ConditionalWindows()
        windows.openWindow(ConditionalWindows.key("b", "K"))
        windows.beginPlainWrite(ConditionalWindows.key("b", "\u{212A}"))  // KELVIN SIGN: equal to "K" as a String
        windows.beginPlainWrite(ConditionalWindows.key("b2", "K"))
        XCTAssertFalse(windows.closeWindow(ConditionalWindows.key("b", "K")))
    }
}
