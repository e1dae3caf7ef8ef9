package controllers

// WriteStatus is writeStatus, for the envtest specs of package controllers_test.
var WriteStatus = writeStatus
