// The lot page's markup: its facts, result, bid and history panels, filled in by
// facts.js and bid-panel.js. Ids are what those modules, and the browser tests, look up.

export const LOT_TEMPLATE = `
  <p class="back"><a href="#/">← All open lots</a> · <a href="#/ended">Ended lots</a><span id="lot-sale" hidden> · <a id="lot-sale-link">This lot's sale</a></span></p>
  <article class="lot" aria-labelledby="lot-title">
    <div class="lot-header">
      <h1 id="lot-title">Loading lot…</h1>
      <p class="badge" id="lot-status"></p>
    </div>
    <p id="lot-seller" class="seller" hidden>Sold by <span id="lot-seller-handle"></span></p>
    <p id="lot-error" class="form-error" role="alert"></p>
    <div class="lot-grid">
      <section class="panel facts" aria-labelledby="facts-title">
        <h2 id="facts-title" class="visually-hidden">Now</h2>
        <dl>
          <div class="fact fact-price" id="fact-price"><dt id="t-price">Current price</dt><dd id="lot-price" aria-labelledby="t-price"></dd></div>
          <div class="fact" id="fact-leader"><dt id="t-leader">Leader</dt><dd id="lot-leader" aria-labelledby="t-leader"></dd></div>
          <div class="fact fact-price" id="fact-outcome" hidden><dt id="t-outcome">Outcome</dt><dd id="lot-outcome" aria-labelledby="t-outcome"></dd></div>
          <div class="fact"><dt id="t-bids">Bids</dt><dd id="lot-bids" aria-labelledby="t-bids"></dd></div>
          <div class="fact"><dt id="t-left">Time left</dt><dd><time id="lot-countdown" role="timer" aria-labelledby="t-left"></time></dd></div>
        </dl>
        <p id="lot-you" class="standing"></p>
        <p id="lot-closes-at" class="muted"></p>
        <p id="lot-extended" class="notice" role="status"></p>
        <p id="lot-reserve" class="muted"></p>
      </section>
      <section id="lot-result" class="panel result" role="status" aria-labelledby="result-title" hidden>
        <h2 id="result-title">Result</h2>
        <p id="lot-result-text"></p>
      </section>
      <section class="panel" id="bid-panel" aria-labelledby="bid-title">
        <h2 id="bid-title">Place a bid</h2>
        <div id="bid-body"></div>
        <div id="buy-now" hidden></div>
        <p id="bid-outcome" class="outcome" role="status"></p>
      </section>
      <section class="panel history" aria-labelledby="history-title">
        <h2 id="history-title">Bid history</h2>
        <p id="history-note" class="muted"></p>
        <table id="history">
          <caption class="visually-hidden">Bids on this lot, newest first</caption>
          <thead><tr><th scope="col">Bidder</th><th scope="col" class="number">Bid</th><th scope="col">Placed at</th></tr></thead>
          <tbody></tbody>
        </table>
        <p id="lot-log" class="log-proof" role="status"></p>
      </section>
    </div>
    <p id="lot-announce" class="visually-hidden" aria-live="polite"></p>
    <p id="you-news" class="visually-hidden" aria-live="polite"></p>
  </article>`;
