// Websocket feeds that reconnect after a close, waiting 1 s, then doubling up to 15 s.

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 15000;

export function feedUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

// Open the path that `pathOf()` returns, again on each reconnection, and call onMessage(object)
// for each JSON message. onState("open" | "closed") reports the connection; onOpen runs on every connection.
export function openFeed(pathOf, { onMessage, onState = () => {}, onOpen = () => {} }) {
  let delay = FIRST_DELAY_MS;

  function connect() {
    const path = pathOf();
    const socket = new WebSocket(feedUrl(path));
    socket.addEventListener("open", () => {
      delay = FIRST_DELAY_MS;
      onState("open");
      onOpen();
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        console.warn("ignoring a message that is not JSON on", path.split("?")[0], error);
        return;
      }
      onMessage(message);
    });
    socket.addEventListener("close", () => {
      onState("closed");
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    });
  }

  connect();
}
