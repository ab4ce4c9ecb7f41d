// login.js - the login page's only behaviour: say so when the last token
// was refused (the server redirects to /login?failed=1).
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  if (new URLSearchParams(location.search).get('failed') === '1')
    document.getElementById('failed').hidden = false;
});
