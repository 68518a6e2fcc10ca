// Shows why an htmx request failed (the server's error page says what and why).
document.addEventListener("htmx:responseError", function (event) {
  var flash = document.getElementById("flash");
  if (!flash) { return; }
  var xhr = event.detail.xhr;
  var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  var detail = doc.querySelector(".error p");
  flash.textContent = "Error " + xhr.status + ": " + (detail ? detail.textContent : xhr.statusText);
  flash.hidden = false;
});
document.addEventListener("htmx:afterRequest", function (event) {
  var flash = document.getElementById("flash");
  if (flash && event.detail.successful) { flash.hidden = true; }
});
