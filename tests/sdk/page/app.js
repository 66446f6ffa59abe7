// A minimal app on Authgear's Web SDK: the test drives it through `window.sdk`, which only calls
// the SDK's own public methods against the Gatehouse endpoint named in the page's query.
(function () {
  var params = new URLSearchParams(window.location.search);
  var container = new authgear.WebContainer();
  function config() {
    return JSON.parse(window.localStorage.getItem("sdk-test-config") || "{}");
  }
  window.sdk = {
    container: container,
    configure: function (endpoint, clientID, sessionType) {
      window.localStorage.setItem("sdk-test-config", JSON.stringify({ endpoint: endpoint, clientID: clientID, sessionType: sessionType }));
      return container.configure({ endpoint: endpoint, clientID: clientID, sessionType: sessionType });
    },
    reconfigure: function () {
      var c = config();
      return container.configure({ endpoint: c.endpoint, clientID: c.clientID, sessionType: c.sessionType });
    },
    callback: window.location.origin + "/callback",
  };
  window.sdkReady = params.has("code") || params.has("state") || window.location.pathname === "/callback"
    ? window.sdk.reconfigure()
    : Promise.resolve();
})();
